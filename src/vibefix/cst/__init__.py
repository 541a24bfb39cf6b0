"""Small libcst helpers every part may use: qualified names, the scope stack of where
``await`` is allowed, parent lookups, call arguments. They know no codemod, no family and
no framework."""

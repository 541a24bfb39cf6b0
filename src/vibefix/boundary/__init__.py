"""The API-boundary family (VF300-VF304): the codemods that tighten the Pydantic models
route handlers take and answer with (required fields, strict models, typed ``dict``
bodies, request and response models split apart, the constraints of the ORM columns a
model mirrors). What they share lives here: the facts of one file (``facts``: models,
ORM classes and columns, route handlers and what they do with their bodies), what each
model is for (``roles``: a body, a response or both, the ORM class it mirrors, partial
updates), which models are split in two (``splits``), the family's part of the plan made
from them once for the whole project (``plan``: ``BoundaryPlan``, and the split's own
``SplitPlan``), and edits of a model's fields that several codemods compose
(``modeledit``).

The rule between packages: a family imports the engine (``vibefix.engine``,
``vibefix.codemod``), ``vibefix.cst`` and ``vibefix.known``, and another family only
through that family's typed plan part; the engine imports no family. This one imports
no other family at all. Its codes are its codemods' ``code`` attributes: no code is
spelled here. What the project declares (its Python, its dependencies)
comes from the engine (``PlanContext.declarations``): the plan reads no file.
"""

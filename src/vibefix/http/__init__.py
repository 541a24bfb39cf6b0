"""The HTTP family (VF101): what each call of requests' API does and how it maps to the
chosen async backend (``mapping``), and which functions share the application's client
(``plan``)."""

"""Plain logic of the code location, wrapped by the definitions in `defs/`."""

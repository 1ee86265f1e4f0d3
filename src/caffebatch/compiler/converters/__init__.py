"""Layer converters, one module per layer family, each listed in `registry.BUILTIN_MODULES`."""

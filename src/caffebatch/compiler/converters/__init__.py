"""Layer converters, one module per layer family. Every module here is loaded by the registry."""

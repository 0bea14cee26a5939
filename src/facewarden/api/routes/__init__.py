"""The native API's routes, one module per concern (docs/http-api.md)."""

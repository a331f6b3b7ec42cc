"""Built-in backends (warp, inswapper, dfm, enhancers), named by the entry points in pyproject.toml."""

"""Built-in backends. Importing this package registers them."""

import importlib

for _mod in ("warp", "inswapper", "dfm", "enhancer"):
    try:
        importlib.import_module(f"{__name__}.{_mod}")
    except ModuleNotFoundError as _exc:  # backend module not built yet
        if _exc.name != f"{__name__}.{_mod}":
            raise

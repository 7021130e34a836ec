"""archlang ops from outside archlang: ``pixel_shuffle`` and ``layer_norm2d``.

Installed, the ops are found through the entry points in pyproject.toml; not installed,
``archlang --plugin archlang_vision_ops.plugin`` (or ``archlang.use_plugin``) registers them.
Importing this package registers nothing.
"""

"""The plugin module for ``archlang <command> --plugin archlang_vision_ops.plugin`` and
``archlang.use_plugin("archlang_vision_ops.plugin")``: importing it registers the ops."""

import archlang
from archlang_vision_ops.ops import LayerNorm2d, PixelShuffle

archlang.register_op(PixelShuffle)
archlang.register_op(LayerNorm2d)

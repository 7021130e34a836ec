"""The one table of names a spec may not use, shared by the checker and the code generator.

Spec names become Python identifiers and ``nn.Module`` attributes in the generated code. The
checker refuses, with a located E018, any layer name that is a Python keyword, starts with
``_`` (every private attribute of ``torch.nn.Module``), is a public attribute of
``torch.nn.Module`` or a name the generated code uses itself; the generator renames classes
away from the same names. Kept here, not read from torch, so checking never imports torch; a
test compares :data:`MODULE_ATTRS` with ``dir(torch.nn.Module)`` of the installed torch.
"""

from __future__ import annotations

#: Attribute names of torch.nn.Module that a layer name must not replace (checked in tests
#: against ``dir(torch.nn.Module)``; kept here so checking never imports torch).
MODULE_ATTRS = frozenset({"T_destination", "add_module", "apply", "bfloat16", "buffers",
                          "call_super_init", "children", "compile", "cpu", "cuda", "double",
                          "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
                          "get_extra_state", "get_parameter", "get_submodule", "half", "ipu",
                          "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
                          "named_modules", "named_parameters", "parameters",
                          "register_backward_hook", "register_buffer", "register_forward_hook",
                          "register_forward_pre_hook", "register_full_backward_hook",
                          "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
                          "register_load_state_dict_pre_hook", "register_module",
                          "register_parameter", "register_state_dict_post_hook",
                          "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
                          "set_submodule", "share_memory", "smart_apply", "state_dict", "to",
                          "to_empty", "train", "training", "type", "xpu", "zero_grad"})

#: names the generated code uses itself (imports, helpers, ``forward``'s argument, methods)
RESERVED = frozenset({"self", "torch", "nn", "F", "x", "Outputs", "NamedTuple", "super",
                      "getattr", "init_weights", "OrderedDict",
                      "annotations", "Tensor"})

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


#: Python's builtins (3.10 to 3.13, without the names ``site`` or a shell adds, such as
#: ``help`` and ``exit``): a generated local named after one would hide it from the code
#: after it. A fixed list, so the code generated does not depend on the interpreter.
BUILTINS = frozenset("""
ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup
BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError
ConnectionAbortedError ConnectionError ConnectionRefusedError ConnectionResetError
DeprecationWarning EOFError Ellipsis EncodingWarning EnvironmentError Exception
ExceptionGroup False FileExistsError FileNotFoundError FloatingPointError FutureWarning
GeneratorExit IOError ImportError ImportWarning IndentationError IndexError InterruptedError
IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError ModuleNotFoundError
NameError None NotADirectoryError NotImplemented NotImplementedError OSError OverflowError
PendingDeprecationWarning PermissionError ProcessLookupError PythonFinalizationError
RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration
StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError True
TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError
UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError abs
aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod
compile complex delattr dict dir divmod enumerate eval exec filter float format frozenset
getattr globals hasattr hash hex id input int isinstance issubclass iter len list locals map
max memoryview min next object oct open ord pow print property range repr reversed round set
setattr slice sorted staticmethod str sum super tuple type vars zip
""".split())  # noqa: SIM905 - one string: `input` here is no op's name

"""Regenerate docs/diagnostics.md from the golden error cases (tests check it is current)."""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
import test_errors as T

from archlang.diagnostics import CODES

# code: (case, when, fix)
DOC = {
"E001": ("syntax_times_sign",
  "The lexer met a character that cannot start any token: `×`, `$`, `&`, `@`, a non-ASCII letter in a name, and so on.",
  "Write the construct in archlang's syntax: `and`/`or`/`not` instead of `&&`/`||`/`!`, plain ASCII names, `(3, 3)` or `3` for a pair of sizes. Comments start with `#`."),
"E002": ("syntax_missing_newline",
  "A token that cannot appear where it is: two statements on one line, a missing comma, a stray closing bracket, Python- or C-style syntax (`:` after a loop header, `//` comments, `feats.append(y)`, `+=`), a chain as a call's argument (`add(a, b -> relu)`).",
  "Put each statement on its own line or separate statements with `;`. When the message says a bracket is still open, the real mistake is usually a missing `)` or `]` earlier. A list of values grows with `feats = feats + [y]`; a chain is bound to a name before it is an argument (`t = b -> relu`, then `add(a, t)`)."),
"E003": ("syntax_unclosed_brace",
  "The file ended in the middle of something: an unclosed `{`, `(` or `[`, or a statement cut off.",
  "Close what the help line points at (it names the bracket and where it was opened), or restore the truncated end of the file."),
"E004": ("syntax_unterminated_string",
  "A literal that is malformed: a string without its closing quote (strings end on the same line), a number such as `3e` or `1__0`, or a float too large to represent (`1e999`).",
  "Close the string on the same line; write integers like `64` or `1_000` and floats like `0.001` or `1e-5`."),
"E010": ("name_unknown_op",
  "A layer name that is neither a built-in op nor a block defined in the file or its imports. Usually a typo or a PyTorch class name (`BatchNorm2d`, `Conv2d`).",
  "Use the op's archlang name (the help line suggests the closest ones), define the block, or import the file that defines it. `use` needs a block, not an op."),
"E011": ("name_unknown_kwarg",
  "A keyword argument the op, block, initialiser or builtin does not take: `strides=` (Keras) for `stride=`, `relu(inplace=true)`, `range(..., step=2)`; also an `init` target that does not end in `.weight` or `.bias`.",
  "Use one of the argument names listed in the help line. archlang decides in-place execution itself, and builtins take positional arguments only."),
"E012": ("name_unknown_variable",
  "A name in an expression that is not a parameter, `let`, loop variable or named value in scope (a loop's variable exists only inside its loop; what the body binds stays); an unknown attribute of `in`; `in` where there is no current input; an output order or `init` target that names nothing.",
  "Fix the spelling (see the did-you-mean), define the value before using it, or pass it to the block as a parameter. Literals are `true`, `false` (lower case); there is no `None`."),
"E013": ("name_duplicate_label",
  "Two things with one name in the same scope: layer labels, blocks, networks, inputs, or a block named like a built-in op. A labelled layer inside a `for` loop repeats its label on every iteration. A list's index given twice (`convs.1` after `convs.1`), and a list named like a layer or group of its scope (`conv1.0:` after `conv1:`).",
  "Rename one of them. Inside loops, leave layers unnamed or wrap the loop body in a named group; name blocks with a capital letter so they never clash with ops."),
"E014": ("arity_conv_in_channels",
  "A call with the wrong arguments: too many positional arguments, a required one missing (including a network parameter without a default), an argument given twice, a positional argument after keywords, `add` with one input, an empty `concat { }`, a block's declared input that the call does not give, `a, b = ...` with a different number of names than the block's outputs. PyTorch's argument order gives too many positional arguments: `conv2d(3, 16, 3)` passes the input channels, and `conv2d(64, 3, 2)` or `maxpool2d(3, 2)` the stride, which is keyword-only in convolutions and pools (as are `padding`, `dilation`, `groups` and `ceil_mode`).",
  "Match the signature in the help line; for a convolution or a pool it shows the intended call. archlang infers input sizes (`in_channels`, `in_features`), so they are never passed, and a window's options are named: `conv2d(16, 3, stride=2, padding=1)`, `maxpool2d(3, stride=2)`."),
"E015": ("type_string_int",
  "A value of the wrong type: a string or a float where an int is expected (`/` gives a float, use `//`), `true` as a size, a tuple of the wrong length, a non-boolean condition, a tensor passed as a block argument (not one of its declared inputs), a number given to a block's input, a block's several outputs where one value is needed, `a, b = ...` of a single value, a number where an initialiser is expected. Tensors and lists of them are not numbers (`y * 2`, `feats - 1`): a list of values is not one value (`feats -> conv2d(...)`, `output feats`), goes only to an op that takes any number of inputs (`concat(feats)`, not `batchnorm(feats)`) and not to a block's inputs (`Merge(feats)`); `+` joins lists, not tensors (`s = a + b`); a list of values holds layer outputs only (`[a, relu]`), never mixed with numbers (`[a, 16]`); a tensor cannot be indexed; a list's index that is not an int, an op that makes no module (`add`, `narrow`) as an item of a list.",
  "Pass a value of the type the message names. Conditions must be comparisons or booleans (`n != 0`, not `n`). A tensor's sizes are `x.channels`, `x.height`, `x.shape`, a list's length `len(feats)`; tensors are combined by layers (`add(a, b)`, `concat(feats)`), an element of a list is `feats[i]`."),
"E016": ("attr_stride_zero",
  "A value of the right type that the op rejects, following PyTorch's rules: zero or negative sizes and strides, negative padding, a dropout probability outside [0, 1], pooling padding larger than half the kernel, `padding=\"same\"` with a stride, a dim out of range, an index out of range, a division by zero, an invalid initialiser choice.",
  "Use a value in the range the message gives. dims never count the batch dimension."),
"E017": ("misplaced_output_in_block",
  "A statement where it is not allowed: an `input` with a shape in a block or without one in a network, a block's `input` inside an `if`, `for` or group, a block's `output` inside a group or marked `training`, a layer before the network's first `input`, a label on a `residual`, a non-branch statement inside `concat { }`, or a group or block instance that reads a value from outside it (its module receives only its inputs).",
  "A network declares `input x: [3, 224, 224]`; a block declares `input x, skip` (the call gives them) and `output y = ...` at its own level, in eval mode too (training outputs belong to the network). A block that reads more than the value it is applied to declares those values as inputs. Name the layers inside a residual, or wrap it in a block."),
"E018": (None,
  "A layer or value name that would break the generated PyTorch module or the spec itself: a Python keyword, a name starting with `_` (every private attribute of `torch.nn.Module`, such as `_modules`), a name the generated code uses itself (`x`, `self`, `torch`, `getattr`, `init_weights`, ...), an attribute of `torch.nn.Module` such as `eval`, `forward`, `to` or `train`, or a reserved word of archlang used as a name (`output:`). An item of a list whose index is not the list's next one (`convs.2` right after `convs.0`, or a list that does not start at 0), and `_:` on a layer that needs a name: one with weights or state, a group, a block instance.",
  "Rename the layer, e.g. `eval_` or `evaluator`. Number a list's items 0, 1, 2, ... where they are applied; name a layer with weights, or leave its label out to number it."),
"E020": ("shape_residual_channels",
  "The inputs of `add` (a residual) or `concat` differ in their channel count where they must agree: a residual whose body changes the channels while the shortcut does not, or a concatenation along another dim.",
  "Project the shortcut with a 1x1 `conv2d` (and `batchnorm`) to the body's channel count, usually in a `shortcut ... if stride != 1 or in.channels != planes { }`."),
"E021": ("shape_concat_spatial",
  "The inputs of `add` or `concat` differ in height or width: branches with different strides, kernels or padding.",
  "Give every branch the same stride and \"same\" padding (`padding = k // 2` for odd kernels), or downsample the shortcut as well."),
"E022": ("shape_pool_to_zero",
  "A convolution or pooling window larger than its padded input, so the output would have no rows or columns: too many stride-2 stages for the input size, or a fixed kernel after the resolution dropped.",
  "Use a larger input, fewer downsampling stages, more padding, or `adaptive_avgpool2d`/`global_avgpool`, which work at any size."),
"E023": ("shape_add_rank",
  "An op applied to a tensor of the wrong rank (ranks do not count the batch): `conv2d` or pooling on a vector, `add` or `mul` of tensors of different ranks, a `permute` ordering another number of dims, `in.height` of a vector.",
  "Keep convolutions before the flatten, give a smaller input size-1 dims (`reshape`) to broadcast it, and write `permute` dims without the batch. (`linear` applies to the last dim of any rank, as in torch.)"),
"E024": ("attr_groups_input",
  "`groups` of a `conv2d` does not divide the input channels or `out_channels`.",
  "Choose `groups` dividing both (depthwise: `groups=in.channels` with `out_channels` a multiple of it)."),
"E025": ("shape_symbolic_flatten",
  "A size that must be a number depends on a symbolic input size (`input image: [3, H, W]`): flattening a symbolic map, comparing a symbolic size, a symbolic channel count, or an attribute computed from `in.height`.",
  "Pool to a fixed size first (`adaptive_avgpool2d`, `global_avgpool`), or check with a concrete size (`--input`, `--set H=224`)."),
"E030": ("output_missing",
  "A network declares no output (or its only `output` is in a branch that is not taken).",
  "End the network with `output NAME` (naming the current value) or `output NAME = chain`."),
"E031": ("output_duplicate",
  "Two outputs with the same name, including an `output` inside a loop.",
  "Give each output its own name, and declare outputs outside loops."),
"E032": ("output_unused_layer",
  "A layer whose result reaches no output: a forgotten branch or head. Only checked when there are no other errors.",
  "Use the value, declare it as an output (`training output` for auxiliary heads), or delete it."),
"E040": ("import_missing",
  "An import that names no file: a typo, an empty path, or a directory.",
  "Write the path relative to the importing file; the help suggests files with similar names."),
"E041": ("import_escape",
  "An import that would read outside the directory of the spec being checked: an absolute path, a `~` path, or `..` leading above the root (after resolving symlinks).",
  "Keep libraries inside the spec's directory tree, or check the spec from a directory that contains both."),
"E042": ("import_self",
  "Files that import each other, directly or through other files.",
  "Move the shared blocks into a third file that both import; imports form a tree (diamonds are fine)."),
"E043": ("import_not_spec",
  "An imported or checked file that is not a spec: not an `.arch` file, or not UTF-8 text. Its contents are never echoed.",
  "Import only `.arch` files, and save specs as UTF-8."),
"E050": ("limit_nested_repeats",
  "A network that would expand to more layers than the limit (50,000 by default). The size is estimated before anything is built, so even 10**30 layers are rejected at once; the first loop or block found over the limit is reported.",
  "Reduce the repeat counts, or raise the limit with `--max-nodes`."),
"E051": ("limit_blocks_too_deep",
  "Nesting deeper than the limit (64 by default): brackets, block calls within block calls, or imports; also expressions nested more than 100 deep.",
  "Flatten the structure: name intermediate values with `let`, or merge levels of blocks. Raise the limit with `--max-depth`."),
"E052": ("limit_range_too_long",
  "One `for` loop, `range` or list longer than the repeat limit (100,000 by default), including list repetition such as `[1] * 10000000`.",
  "Use fewer repetitions, or raise the limit with `--max-repeat`."),
"E053": ("limit_file_too_large",
  "A spec file (checked or imported) larger than the byte limit (100,000 by default), or an import that brings the spec and its imports together over it. The file is not read.",
  "Split the spec into imported files, or raise the limit with `--max-bytes`."),
"E054": ("limit_too_many_params",
  "A network with more parameters and buffers than the limit (10**9 by default, 4 GB in float32); counted as layers are made, so the layer that crosses the limit is shown and expansion stops there.",
  "Check the layer sizes (a product taken once too often is the usual cause), or raise the limit with `--max-params`."),
"E055": ("recursion_mutual",
  "A block that calls itself, directly or through other blocks (also with `use`). Blocks cannot recurse.",
  "Repeat layers with `for`, passing the depth as a parameter."),
"E056": ("limit_huge_power",
  "A number outside the 64-bit range: an integer literal, a power, a product or a sum that overflows.",
  "Check the arithmetic; sizes and counts are 64-bit integers."),
"E060": ("network_several",
  "No network to check: the file has no `network` (only blocks), it has several and none was chosen, or the chosen one does not exist.",
  "Choose a network with `--network NAME` (`check(path, network=...)` in Python); a file of blocks is checked by a spec that imports it."),
"E061": ("option_unknown_param",
  "An option given from outside does not fit the network: `--set NAME=VALUE` for a parameter the network does not have, or `--input NAME=...` for an input it does not have.",
  "Use one of the names in the help line; network parameters are the ones in `network NAME(...)`, and names used in input shapes (`H`, `W`) can be set too."),
}

HEADER_NOTES = {
"E053": "Checked with `# limits: max_bytes=100`, i.e. `archlang check --max-bytes 100`.",
"E051": "Checked with `# limits: max_depth=3`, i.e. `archlang check --max-depth 3`.",
"E060": "Checked without choosing a network (no `--network`).",
"E061": "Checked with `# set: num_class=10`, i.e. `archlang check --set num_class=10`.",
}

def cases_for(code):
    return [c.name for c in T.CASES if code in c.codes]

out = []
out.append("""# Diagnostics reference

Every error archlang reports has a stable code, a message, and (for errors in a spec) the
file, line and column it points at, with a label, notes and help:

```text
error[E010]: unknown layer `con2d`
 --> tests/cases/errors/name_unknown_op.arch:4:5
  |
4 |     con2d(16, 3, padding=1)  # E: E010
  |     ^^^^^ not an op or block
  |
  = help: did you mean `conv2d` or `deconv2d`?
```

`archlang check --format json` gives the same diagnostics as JSON objects (`code`, `message`,
`label`, `notes`, `help`, and `file`, `line`, `column`, `end_line`, `end_column` when located);
in Python, `archlang.check` raises `ArchError`, whose `.diagnostics` are the same objects.

Each section below gives a code's title, when it happens, an example and its exact output,
and the fix. The examples are cases of the test suite (`tests/cases/errors/`, checked by
`tests/test_errors.py`); their `# E: E0xx` comments mark the line each diagnostic points at,
and full-line comments such as `# limits: max_bytes=100` give the options the case is checked
with. The outputs are copied from the cases' golden files, so they are exactly what archlang
prints. The list of further cases under each code shows more ways to get it.

| Code | Title |
| --- | --- |
""")
def slug(code):
    title = CODES.get(code, "invalid layer name")
    text = f"{code}: {title}".lower()
    return re.sub(r"[^a-z0-9 _-]", "", text).replace(" ", "-")
for code in sorted(set(CODES) | {"E018"}):
    title = CODES.get(code, "invalid layer name (not yet in the catalogue)")
    out.append(f"| [{code}](#{slug(code)}) | {title} |\n")

groups = [("Syntax", "E00"), ("Names, arguments and values", "E01"), ("Shapes", "E02"),
          ("Outputs", "E03"), ("Imports", "E04"), ("Limits", "E05"), ("Options", "E06")]
codes = sorted(set(CODES) | {"E018"})
for gname, prefix in groups:
    out.append(f"\n## {gname}\n")
    for code in [c for c in codes if c.startswith(prefix)]:
        case, when, fix = DOC[code]
        title = CODES.get(code, "invalid layer name")
        out.append(f"\n### {code}: {title}\n\n**When.** {when}\n\n")
        if case is None:
            out.append("**Example.** `eval: conv2d(16, 3, padding=1)` (case "
                       "`tests/cases/errors/name_reserved_layer.arch`). E018 is not yet in the "
                       "catalogue `archlang.diagnostics.CODES`, so this currently fails inside "
                       "the checker instead of printing the diagnostic.\n\n")
        else:
            c = T.load_case(T.CASES_DIR / f"{case}.arch")
            spec = c.path.read_text(encoding="utf-8").rstrip("\n")
            golden = c.golden.read_text(encoding="utf-8").rstrip("\n")
            out.append(f"**Example** (`{c.rel}`):\n\n```arch\n{spec}\n```\n\n")
            if code in HEADER_NOTES:
                out.append(HEADER_NOTES[code] + "\n\n")
            out.append(f"```text\n{golden}\n```\n\n")
        out.append(f"**Fix.** {fix}\n")
        more = [n for n in cases_for(code) if n != case]
        if more:
            out.append("\nMore cases: " + ", ".join(f"`{n}`" for n in more) + ".\n")
doc = Path("docs/diagnostics.md")
doc.write_text("".join(out), encoding="utf-8")
with doc.open() as f:
    print("written", sum(1 for _ in f), "lines")

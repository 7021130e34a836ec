"""Sizes that may depend on symbolic input dimensions.

A size is a plain ``int`` or a :class:`Sym`, ``floor((a*X + b) / m)`` for one input symbol
``X``. Convolution and pooling keep that form exactly, because for integers
``floor((floor(y/m) + c) / s) == floor((y + c*m) / (m*s))``. Products of sizes (element
counts, MACs) are :class:`Poly` values: integer polynomials whose variables are ``Sym`` s.

>>> h = Sym.var("H")
>>> conv = add(floordiv(add(h, 2 * 1 - 3), 2), 1)   # 3x3, stride 2, padding 1
>>> str(conv), conv.at(224)
('(H+1)//2', 112)
>>> str(floordiv(add(conv, 2 - 3), 2) if False else add(floordiv(add(conv, -1), 2), 1))
'(H+3)//4'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union


class NotAffine(Exception):
    """An operation whose result is not ``floor((a*X+b)/m)`` of one symbol."""


@dataclass(frozen=True, order=True, repr=False)
class Sym:
    name: str
    a: int = 1
    b: int = 0
    m: int = 1

    @staticmethod
    def var(name: str) -> Sym:
        return Sym(name, 1, 0, 1)

    @staticmethod
    def make(name: str, a: int, b: int, m: int) -> Dim:
        if a == 0:
            return b // m
        g = math.gcd(math.gcd(a, b), m)
        return Sym(name, a // g, b // g, m // g)

    def at(self, x: int) -> int:
        return (self.a * x + self.b) // self.m

    def min_arg(self, lo: int) -> int:
        """Smallest x with ``self.at(x) >= lo`` (a > 0)."""
        return -((self.b - lo * self.m) // self.a)

    def __str__(self) -> str:
        lin = self.name if self.a == 1 else f"{self.a}*{self.name}"
        if self.b:
            lin += f"{'+' if self.b > 0 else '-'}{abs(self.b)}"
        if self.m == 1:
            return lin
        return f"({lin})//{self.m}" if self.b or self.a != 1 else f"{lin}//{self.m}"

    __repr__ = __str__  # shapes print as the spec would write them: (3, (H+1)//2, W//2)


Dim = Union[int, Sym]  # noqa: UP007


def is_int(d: Dim) -> bool:
    return isinstance(d, int)


def add(d: Dim, c: int) -> Dim:
    if isinstance(d, int):
        return d + c
    return Sym.make(d.name, d.a, d.b + c * d.m, d.m)


def floordiv(d: Dim, s: int) -> Dim:
    if isinstance(d, int):
        return d // s
    return Sym.make(d.name, d.a, d.b, d.m * s)


def ceildiv(d: Dim, s: int) -> Dim:
    return floordiv(add(d, s - 1), s)


def mul(d: Dim, k: int) -> Dim:
    if isinstance(d, int):
        return d * k
    if d.m != 1:
        raise NotAffine(f"{k} * ({d})")
    return Sym.make(d.name, d.a * k, d.b * k, 1)


def mul_exact(d: Dim, k: int) -> tuple[Dim, tuple[Dim, Dim] | None]:
    """``k * d``, and for ``floor((a*X+b)/m)`` with ``m > 1`` the condition under which it is
    ``floor(k*(a*X+b)/m)``: that ``m`` divides ``a*X+b``, i.e. that the floor and the ceiling
    of ``(a*X+b)/m`` agree (the pair returned, for an ``Agree``). An upsampling after a
    pooling is then exact for the input sizes the pools divide:

    >>> mul_exact(floordiv(Sym.var("H"), 16), 2)
    (H//8, (H//16, (H+15)//16))
    """
    if isinstance(d, int) or d.m == 1:
        return mul(d, k), None
    return Sym.make(d.name, d.a * k, d.b * k, d.m), (d, ceildiv(Sym.make(d.name, d.a, d.b, 1), d.m))


def fmt(d: Dim) -> str:
    return str(d)


def fmt_count(c: Count) -> str:
    """A count as people read it: ``25,557,032``, or the symbolic expression."""
    return f"{c:,}" if isinstance(c, int) else str(c)


def fmt_shape(shape: tuple[Dim, ...], batch: str | None = None) -> str:
    parts = ([batch] if batch else []) + [str(d) for d in shape]
    return " x ".join(parts) if parts else "scalar"


def evaluate(d: Dim, env: dict[str, int]) -> int:
    return d if isinstance(d, int) else d.at(env[d.name])


# ---- polynomials: element counts and MACs ---------------------------------------------------


class Poly:
    """An integer polynomial over :class:`Sym` terms; ints stay ints where possible."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[tuple[Sym, ...], int]):
        self.terms = {k: v for k, v in terms.items() if v}

    @staticmethod
    def of(d: Dim | Poly) -> Poly:
        if isinstance(d, Poly):
            return d
        if isinstance(d, int):
            return Poly({(): d})
        return Poly({(d,): 1})

    def __add__(self, other: Poly | int) -> Poly:
        other = Poly.of(other)
        out = dict(self.terms)
        for k, v in other.terms.items():
            out[k] = out.get(k, 0) + v
        return Poly(out)

    __radd__ = __add__

    def __mul__(self, other: Poly | Dim) -> Poly:
        other = Poly.of(other)
        out: dict[tuple[Sym, ...], int] = {}
        for k1, v1 in self.terms.items():
            for k2, v2 in other.terms.items():
                k = tuple(sorted(k1 + k2))
                out[k] = out.get(k, 0) + v1 * v2
        return Poly(out)

    __rmul__ = __mul__

    def at(self, env: dict[str, int]) -> int:
        total = 0
        for k, v in self.terms.items():
            prod = v
            for s in k:
                prod *= s.at(env[s.name])
            total += prod
        return total

    def symbols(self) -> set[str]:
        return {s.name for k in self.terms for s in k}

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for k in sorted(self.terms, key=lambda t: (-len(t), t)):
            v = self.terms[k]
            factors = [f"({s})" if s.m != 1 or s.b else str(s) for s in k]
            coeff = [] if v == 1 and factors else [str(v)]
            parts.append("*".join(coeff + factors))
        return " + ".join(parts).replace("+ -", "- ")

    __repr__ = __str__


Count = Union[int, Poly]  # noqa: UP007


def simplify(p: Count) -> Count:
    """A :class:`Poly` with only a constant term becomes an int."""
    if isinstance(p, Poly):
        if not p.terms:
            return 0
        if set(p.terms) == {()}:
            return p.terms[()]
    return p


def product(dims) -> Count:
    out: Poly | int = 1
    for d in dims:
        if isinstance(out, int) and isinstance(d, int):
            out *= d
        else:
            out = Poly.of(out) * d
    return simplify(out)


def times(a: Count, b: Count) -> Count:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return simplify(Poly.of(a) * b)


def plus(a: Count, b: Count) -> Count:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return simplify(Poly.of(a) + b)


def count_at(c: Count, env: dict[str, int]) -> int:
    return c if isinstance(c, int) else c.at(env)


def agreeing_residues(x: Sym, y: Sym) -> tuple[int, set[int]] | None:
    """For same-symbol sizes with equal slope: (period L, residues r mod L where x == y).

    ``None`` when the slopes differ (they agree at finitely many points at most).
    """
    if x.name != y.name or x.a * y.m != y.a * x.m:
        return None
    period = math.lcm(x.m, y.m)
    return period, {r for r in range(period) if x.at(r + period * 64) == y.at(r + period * 64)}

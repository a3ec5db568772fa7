"""C identifiers for names users give (tensors, kernels, loop variables), for the CUDA C
the code generator prints."""

#: C++'s keywords and alternative operator names: a tensor named ``new`` or ``float``
#: must not become a parameter of that name.
CPP_KEYWORDS = """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
    char32_t class compl concept const consteval constexpr constinit const_cast continue co_await co_return
    co_yield decltype default delete do double dynamic_cast else enum explicit export extern false float for
    friend goto if inline int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private
    protected public register reinterpret_cast requires return short signed sizeof static static_assert
    static_cast struct switch template this thread_local throw true try typedef typeid typename union unsigned
    using virtual void volatile wchar_t while xor xor_eq restrict""".split()


def fresh(name, taken):
    """``name``, or ``name_1``, ``name_2``, ... if taken; the result is then taken."""
    out, k = name, 1
    while out in taken:
        out, k = f"{name}_{k}", k + 1
    taken.add(out)
    return out


def ident(name):
    """A C identifier for ``name``: other ASCII characters become ``_``, non-ASCII ones
    ``_u`` and their code point in hex (as CPU symbols: ``runtime.module.entry_symbol``)."""
    out = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" if c.isascii() else f"_u{ord(c):04x}"
                  for c in name)
    return out if not out[0].isdigit() else "v" + out

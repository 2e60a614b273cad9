"""The crew console (textual). ``fieldkit`` never imports this package.

Empty until the TUI issue lands; the package exists so the layout of DESIGN.md holds.
"""

__all__: list[str] = []

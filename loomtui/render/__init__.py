"""The one renderer shared by the front ends: plain data in, rich renderables out.

Both the CLI verbs and the Textual app draw tokens, the colour legend, bars and the
instruments' tables and plots through this package, so a token looks the same in both.
It may use rich, never textual, and reads no user config: the front ends pass the theme.
Text from outside (model tokens, labels, file names) is always appended to
:class:`rich.text.Text` as data, never parsed as markup, with controls made visible.
"""

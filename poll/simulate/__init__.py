"""The simulator: a synthetic population of Iraqi mobile subscribers and how they respond.

Pure NumPy: no Flask and no database here. Everything random takes a
`numpy.random.Generator`, so a seed reproduces a run exactly.
"""

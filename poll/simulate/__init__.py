"""The simulator: a synthetic population of Iraqi mobile subscribers and how they respond.

The models (population, scenario, behaviour, truth, montecarlo) are pure
NumPy: no Flask and no database, and everything random takes a
`numpy.random.Generator`, so a seed reproduces a run exactly. `live` sends a
simulation's answers as HTTP requests to a running server; writing a
simulation into the database is `services.simulations.simulation`'s job. The poll's own
code never imports this package.
"""

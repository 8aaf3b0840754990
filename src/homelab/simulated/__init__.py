"""The tool's side of the built-in simulator: the one adapter that knows it is not a real lab.

site        SimulatedSite: the engine's Site answered by the simulator's private ``/_sim/*`` API
            (lab addresses mapped to loopback, the manifest mirror, the guests' bootstrap phases)
guests      reading ``GET /_sim/guests`` into GuestPhases
lab         running the simulator in-process for ``--sim``: state under ``.homelab/<lab>/sim/``,
            HTTPS on loopback with a pinned certificate, the virtual clock

Only this package (and the tests) import the simulator; ``homelab.verbs.connection.open_connection``
is the one place in the use cases that picks it (an import-linter contract says so).
"""

"""The runner agent: registers with the server, long-polls for leases of its pool, checks out the
exact commit, runs the job in a sandbox, ships logs exactly once, and drains on SIGTERM.

It meets the server only over HTTP (``stockade.api.agent``), even on one machine.
"""

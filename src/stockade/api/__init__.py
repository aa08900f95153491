"""Wire schemas shared by the server and its HTTP clients (agent, CLI). No logic, no I/O."""

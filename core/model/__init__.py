"""The MF² model: face encoder (global + local AU regions), language alignment, DFN heads."""

"""The rules: when capture may run (pure, no I/O): its vocabulary and its state machine."""

"""The agent's Qt user interface: tray indicator, call notice and agent window.

The only package that imports Qt (docs/design.md, "Qt at the edge"): the core talks to it through
agent.core.view, and `QtAgentView` turns each call into a queued signal for the GUI thread.
"""

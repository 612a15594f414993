"""Capacity planning: what to rent (the sweep over GPUs and layouts, prices) and two plans side by side."""

"""From a request to a plan: resolve the inputs, search for a layout that fits, judge it, recommend settings."""

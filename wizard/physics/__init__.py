"""The physics of serving a model under vLLM: architecture, parameters, weight formats, KV cache, memory, speed.

Pure functions of a model's config, a weight format, GPUs and vLLM's settings;
no defaults are chosen here (that is the planner's job).
"""

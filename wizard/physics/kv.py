"""KV-cache layout as vLLM 0.33's V1 engine builds it: pages, groups, blocks, tokens.

Follows vllm/v1/kv_cache_interface.py (page sizes, per-request block needs)
and vllm/v1/core/kv_cache_planning.py / kv_cache_utils.py (grouping of hybrid
models, number of blocks, "GPU KV cache size" and "Maximum concurrency").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from wizard.catalog.gpus import GpuSpec
from wizard.physics.arch import Architecture, kv_heads_per_rank
from wizard.physics.lazy import lazy_property

DEFAULT_BLOCK_SIZE = 16  # vllm/config/cache.py: 16 tokens per block on CUDA
# vllm/v1/core/kv_cache_utils.py prints "GPU KV cache size: N tokens" as
# int(max_concurrency x max_model_len) from 0.21.0 (get_kv_cache_capacity);
# 0.9-0.20 printed num_blocks // len(kv_cache_groups) x min block size, and
# single-group models (and V0's "# GPU blocks") amount to num_blocks x block_size.
TOKENS_FROM_CONCURRENCY_SINCE = (0, 21, 0)


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class KvGroup:
    """One KV-cache group: ``layers`` layers of one attention kind sharing a block table."""

    kind: str  # "full" or "sliding"
    window: int | None

    def blocks_for(self, tokens: int, block_size: int, in_flight_tokens: int) -> int:
        """Blocks one request of ``tokens`` tokens holds in this group at most.

        Sliding-window layers keep the last window - 1 tokens plus the tokens in
        flight, plus one block because the window rarely starts on a block edge
        (SlidingWindowSpec.max_admission_blocks_per_request).
        """
        if self.kind == "sliding" and self.window:
            return cdiv(min(self.window - 1 + in_flight_tokens, tokens), block_size) + 1
        return cdiv(tokens, block_size)


@dataclass(frozen=True)
class KvLayout:
    """The KV cache of one GPU (one pipeline stage, one TP rank)."""

    block_size: int
    page_bytes: int  # one block of one layer
    group_size: int  # layers per group (padded)
    groups: tuple[KvGroup, ...]
    attention_layers: int
    in_flight_tokens: int

    @property
    def bytes_per_block(self) -> int:
        """Bytes one block id costs: one page in every layer of a group."""
        return self.page_bytes * self.group_size

    @property
    def bytes_per_token(self) -> int:
        """Bytes per token if every layer kept the whole context (vLLM's per-token figure)."""
        return self.page_bytes * self.attention_layers // self.block_size

    def num_blocks(self, available_bytes: float) -> int:
        return max(0, int(available_bytes // self.bytes_per_block))

    def capacity_tokens(self, num_blocks: int) -> int:
        """Raw block capacity: block ids x tokens per block (what one group could hold alone)."""
        return num_blocks * self.block_size

    def blocks_per_request(self, tokens: int) -> int:
        return sum(g.blocks_for(tokens, self.block_size, self.in_flight_tokens) for g in self.groups)

    def max_concurrency(self, num_blocks: int, tokens: int) -> float:
        """How many requests of ``tokens`` tokens the pool holds (vLLM's Maximum concurrency)."""
        return num_blocks / self.blocks_per_request(tokens)

    def bytes_for_requests(self, requests: int, tokens: int) -> int:
        return requests * self.blocks_per_request(tokens) * self.bytes_per_block

    @lazy_property
    def _request_shape(self) -> tuple[int, int, int, int]:
        """(blocks of a one-token request, full-attention groups, the knee: the longest sliding window plus the
        tokens in flight, blocks the sliding groups hold past it), for :meth:`max_tokens_per_request`."""
        sliding = [g for g in self.groups if g.kind == "sliding" and g.window]
        knee = max((g.window - 1 + self.in_flight_tokens for g in sliding), default=0)
        return (self.blocks_per_request(1), len(self.groups) - len(sliding), knee,
                sum(g.blocks_for(knee, self.block_size, self.in_flight_tokens) for g in sliding))

    def max_tokens_per_request(self, num_blocks: int, requests: int, limit: int) -> int:
        """Longest request length (<= limit) such that ``requests`` of them fit in the pool."""
        one, full, knee, sliding_at_knee = self._request_shape
        if requests * one > num_blocks:
            return 0
        # Past the longest sliding window (plus the tokens in flight) a sliding group holds a fixed number of
        # blocks and every other group cdiv(tokens, block_size): whole blocks per request in closed form (the
        # bisection below finds the same, ~20 times slower; the planner asks for every candidate).
        spare = num_blocks // requests - sliding_at_knee
        if full and spare // full * self.block_size >= knee:
            return max(1, min(limit, spare // full * self.block_size))
        lo, hi = 1, limit if not full else min(limit, knee)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if requests * self.blocks_per_request(mid) <= num_blocks:
                lo = mid
            else:
                hi = mid - 1
        return lo


def _tokens_from_concurrency(version: tuple[int, int, int], v0: bool) -> bool:
    return not v0 and version >= TOKENS_FROM_CONCURRENCY_SINCE


def reported_kv_tokens(kv: KvLayout, num_blocks: int, max_model_len: int, version: tuple[int, int, int],
                       v0: bool = False) -> int:
    """The token count vLLM prints as "GPU KV cache size: N tokens" for this pool.

    For a hybrid (sliding + full) model the releases disagree by a wide margin:
    gpt-oss-120b on 4 x A100 at 0.8 printed 2,640,144 tokens on a 0.1x release
    (330,018 blocks // 2 groups x 16), where 0.21+ prints concurrency x max_model_len.
    """
    if not _tokens_from_concurrency(version, v0):
        return num_blocks // len(kv.groups) * kv.block_size
    return int(num_blocks / kv.blocks_per_request(max_model_len) * max_model_len)


def reported_kv_tokens_formula(kv: KvLayout, num_blocks: int, max_model_len: int, version: tuple[int, int, int],
                               v0: bool = False) -> str:
    """:func:`reported_kv_tokens` as arithmetic with its live values (what the plan prints beside it)."""
    tokens = reported_kv_tokens(kv, num_blocks, max_model_len, version, v0)
    if not _tokens_from_concurrency(version, v0):
        return f"{num_blocks:,} blocks // {len(kv.groups)} groups x {kv.block_size} tokens = {tokens:,} tokens"
    return (f"{num_blocks:,} blocks / {kv.blocks_per_request(max_model_len):,} blocks per max_model_len request "
            f"x {max_model_len:,} tokens = {tokens:,} tokens")


def frontier(kv: KvLayout, num_blocks: int, model_limit: int, shortest: int = 1024) -> list[tuple[int, int]]:
    """(context tokens, requests the pool holds at once): doubling from ``shortest`` up to the model's limit."""
    if num_blocks <= 0:
        return []
    lengths = []
    length = shortest
    while length < model_limit:
        lengths.append(length)
        length *= 2
    lengths.append(model_limit)
    return [(n, num_blocks // kv.blocks_per_request(n)) for n in lengths]


def reported_max_concurrency(kv: KvLayout, num_blocks: int, max_model_len: int, v0: bool = False) -> float:
    """vLLM's "Maximum concurrency for L tokens per request": blocks over one request's need.

    V1 divides by the blocks one max_model_len request holds summed over the
    groups (get_max_concurrency_for_kv_cache_config); V0 divided the token
    capacity by max_model_len.
    """
    if v0:
        return kv.capacity_tokens(num_blocks) / max_model_len
    return kv.max_concurrency(num_blocks, max_model_len)


def kv_dtype_bytes(kv_cache_dtype: str, model_dtype_bytes: int) -> int:
    """Bytes per cached element: 1 for the fp8 variants, else the model dtype's."""
    if kv_cache_dtype.startswith("fp8"):
        return 1
    if kv_cache_dtype in ("bfloat16", "float16"):
        return 2
    return model_dtype_bytes


def block_size_for(arch: Architecture, gpu: GpuSpec) -> int:
    """Tokens per block: 16, except MLA backends that need larger pages.

    FlashMLA (Hopper) supports only 64-token blocks and CUTLASS MLA
    (Blackwell) 128 (vllm/v1/attention/backends/mla/*: get_supported_kernel_block_sizes).
    """
    cc = gpu.cc
    if arch.mla and cc is not None:
        if cc >= (10, 0):
            return 128
        if cc >= (9, 0):
            return 64
    return DEFAULT_BLOCK_SIZE


def _groups(kinds: list[str], window: int | None) -> tuple[int, tuple[KvGroup, ...]]:
    """Group size and groups, as _get_kv_cache_groups_uniform_page_size forms them."""
    buckets = {kind: kinds.count(kind) for kind in ("full", "sliding") if kinds.count(kind)}
    if len(buckets) == 1:
        (kind, count), = buckets.items()
        return count, (KvGroup(kind, window if kind == "sliding" else None),)
    smallest, largest = min(buckets.values()), max(buckets.values())
    group_size = largest if largest < smallest * 1.5 else smallest
    groups: list[KvGroup] = []
    for kind, count in buckets.items():
        groups += [KvGroup(kind, window if kind == "sliding" else None)] * cdiv(count, group_size)
    return group_size, tuple(groups)


@cache
def layout(
    arch: Architecture,
    layers: range,
    tp: int,
    kv_bytes: int,
    block_size: int,
    in_flight_tokens: int,
    fragmentation_factor: float = 1.0,
) -> KvLayout:
    """The KV layout of one GPU holding ``layers`` of the model at tensor parallelism ``tp`` (kept: a sweep's
    candidates share a few dozen)."""
    elements = arch.kv_elements_per_token_layer
    if not arch.mla:
        elements = 2 * kv_heads_per_rank(arch, tp) * arch.head_dim
    page = math.ceil(block_size * elements * kv_bytes * fragmentation_factor)
    kinds = [arch.layer_kinds[i] for i in layers]
    group_size, groups = _groups(kinds, arch.sliding_window)
    return KvLayout(
        block_size=block_size,
        page_bytes=page,
        group_size=group_size,
        groups=groups,
        attention_layers=len(kinds),
        in_flight_tokens=in_flight_tokens,
    )

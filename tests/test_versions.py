"""What each vLLM release changes in the memory model, read from its source."""

from wizard.physics.versions import release

SORT = (8.0, 9.7, 10.5)
FLASHINFER = (1.0, 2.0, 4.0)


def test_flashinfer_sampler_only_where_installed_on_v1_before_0_12():
    # 0.8-0.11 sample with FlashInfer whenever it is installed (the Docker images ship it).
    assert release("0.10.1").sampler_copies == SORT  # pip: FlashInfer was an extra
    assert release("0.10.1", flashinfer_installed=True).sampler_copies == FLASHINFER
    # V0 never used it; from 0.12 it was opt-in (VLLM_USE_FLASHINFER_SAMPLER=1) until 0.21 turned it on.
    assert release("0.6.6", flashinfer_installed=True).sampler_copies == SORT
    assert release("0.14.0", flashinfer_installed=True).sampler_copies == SORT
    assert release("0.24.0").sampler_copies == FLASHINFER


def test_releases_that_add_kv_cache_memory_bytes_and_in_flight_windows():
    assert (release("0.10.1").kv_cache_memory_bytes, release("0.10.2").kv_cache_memory_bytes) == (False, True)
    assert release("0.10.2", pre_ampere=True).kv_cache_memory_bytes is False  # V0 on a T4
    assert (release("0.25.0").sliding_reserves_in_flight, release("0.26.0").sliding_reserves_in_flight) == (False, True)

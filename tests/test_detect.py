"""GPU detection through an injected NVML stand-in and a fake nvidia-smi."""

import subprocess
from types import SimpleNamespace

from tests.conftest import make_plan
from wizard.catalog.detect import detect_gpus
from wizard.planning.planner import plan
from wizard.schema import parse_request

MIB = 1024**2


class FakeNvml:
    """The subset of pynvml the detector calls, answering for two H100s."""

    def __init__(self, names=(b"NVIDIA H100 80GB HBM3", b"NVIDIA H100 80GB HBM3")):
        self.names = names
        self.shut = False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shut = True

    def nvmlSystemGetDriverVersion(self):
        return "570.86.15"

    def nvmlDeviceGetCount(self):
        return len(self.names)

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return self.names[handle]

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(total=81559 * MIB, used=512 * MIB, free=81047 * MIB)


class BrokenNvml(FakeNvml):
    def nvmlInit(self):
        raise RuntimeError("NVML Shared Library Not Found")


def test_nvml_detection_maps_names_to_the_catalog():
    nvml = FakeNvml()
    found = detect_gpus(nvml=nvml)
    assert [g.name for g in found] == ["NVIDIA H100 80GB HBM3"] * 2
    assert found[0].spec().name == "H100 SXM 80GB" and found[0].source == "nvml"
    assert found[0].memory_total_mib == 81559 and nvml.shut


def test_unknown_detected_gpu_gets_custom_memory():
    found = detect_gpus(nvml=FakeNvml(names=("NVIDIA Future GPU 999",)))
    assert found[0].spec().cuda_total_gib == round(81559 / 1024 - 0.5, 2)


def test_nvidia_smi_fallback():
    def fake_run(cmd, **kwargs):
        assert cmd[0] == "nvidia-smi"
        return SimpleNamespace(stdout="0, NVIDIA L40S, 46068, 10, 570.86\n1, NVIDIA L40S, 46068, 10, 570.86\n")

    found = detect_gpus(nvml=BrokenNvml(), run=fake_run)
    assert [g.spec().name for g in found] == ["L40S", "L40S"] and found[0].source == "nvidia-smi"


def test_no_gpus_at_all():
    def missing(cmd, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    def failing(cmd, **kwargs):
        raise subprocess.CalledProcessError(9, cmd)

    assert detect_gpus(nvml=BrokenNvml(), run=missing) == []
    assert detect_gpus(nvml=BrokenNvml(), run=failing) == []


def test_auto_detect_plans_for_all_detected_gpus():
    p = plan(parse_request({"model": "meta-llama/Llama-3.1-70B-Instruct"}), detected=detect_gpus(nvml=FakeNvml()))
    assert p.hardware.detected and p.hardware.gpu == "H100 SXM 80GB" and p.hardware.gpus_per_node == 2
    assert p.hardware.tensor_parallel_size == 2


def test_explicit_gpu_count_wins_over_detection():
    p = plan(parse_request({"model": "Qwen/Qwen3-8B", "gpus": 1}), detected=detect_gpus(nvml=FakeNvml()))
    assert p.hardware.gpus_per_node == 1


def test_mixed_gpus_plan_for_the_smallest():
    found = detect_gpus(nvml=FakeNvml(names=(b"NVIDIA H100 80GB HBM3", b"NVIDIA L4")))
    p = plan(parse_request({"model": "Qwen/Qwen3-8B"}), detected=found)
    assert p.hardware.gpu == "L4" and any("mixed GPUs" in w for w in p.warnings)
    assert make_plan(model="Qwen/Qwen3-8B", gpu="L4").hardware.gpu == "L4"

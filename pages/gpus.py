"""GPUs page: the GPUs this server has (NVML) and the GPU catalog."""

import streamlit as st

from wizard.catalog.detect import detect_gpus
from wizard.catalog.gpus import catalog

st.markdown("#### GPUs on this server")
found = detect_gpus()
if not found:
    st.info("No NVIDIA GPU was detected on this server (NVML and nvidia-smi found none). "
            "Plan for any GPU from the catalog below by picking it on the Plan page.", icon=":material/info:")
else:
    st.dataframe(
        [{"index": g.index, "name": g.name, "memory (MiB)": int(g.memory_total_mib), "used (MiB)": int(g.memory_used_mib),
          "driver": g.driver, "catalog match": g.spec().name, "found via": g.source} for g in found],
        hide_index=True, width="stretch", alt="Detected GPUs",
    )
    st.page_link("pages/plan.py", label="Plan for these GPUs", icon=":material/memory:", query_params={"gpu": "auto"})

st.markdown("#### GPU catalog")
st.caption("Memory is what CUDA reports (what vLLM multiplies by gpu_memory_utilization); estimated values are marked. "
           "Click a column to sort.")
st.dataframe(
    [{"GPU": g.name, "vendor": g.vendor, "CUDA memory (GiB)": g.cuda_total_gib, "estimated": g.cuda_total_estimated,
      "marketed (GB)": g.memory_gb_marketed, "bandwidth (GB/s)": g.bandwidth_gbs, "BF16 TFLOPS": g.bf16_tflops,
      "FP8 TFLOPS": g.fp8_tflops, "FP8": g.fp8_native, "link": g.interconnect_name, "aliases": ", ".join(g.aliases)}
     for g in catalog()],
    hide_index=True, width="stretch", alt="GPU catalog",
)

"""GPUs page: the GPUs this server has (NVML) and the GPU catalog."""

import streamlit as st

from app_pages import cached
from wizard.catalog.gpus import catalog

st.markdown("#### GPUs on this server")
found = cached.detected_gpus()
if not found:
    st.info("No NVIDIA GPU was detected on this server (NVML and nvidia-smi found none). "
            "Plan for any GPU from the catalog below by picking it on the Plan page.", icon=":material/info:")
else:
    st.dataframe(
        [{"index": g.index, "name": g.name, "memory (MiB)": int(g.memory_total_mib), "used (MiB)": int(g.memory_used_mib),
          "driver": g.driver, "catalog match": g.spec().name, "found via": g.source} for g in found],
        hide_index=True, width="stretch", alt="Detected GPUs",
        column_config={"memory (MiB)": st.column_config.NumberColumn(format="%,d"),
                       "used (MiB)": st.column_config.NumberColumn(format="%,d")},
    )
    st.markdown("[Plan for these GPUs](./?gpu=auto)")

st.markdown("#### GPU catalog")
st.caption("Memory is what CUDA reports (what vLLM multiplies by gpu_memory_utilization); estimated values are marked. "
           "Click a column to sort.")
st.dataframe(
    [{"GPU": g.name, "vendor": g.vendor, "CUDA memory (GiB)": g.cuda_total_gib, "estimated": g.cuda_total_estimated,
      "marketed (GB)": g.memory_gb_marketed, "bandwidth (GB/s)": g.bandwidth_gbs, "BF16 TFLOPS": g.bf16_tflops,
      "FP8 TFLOPS": g.fp8_tflops, "FP8": g.fp8_native, "link": g.interconnect_name, "aliases": ", ".join(g.aliases)}
     for g in catalog()],
    hide_index=True, width="stretch", alt="GPU catalog",
    column_config={"CUDA memory (GiB)": st.column_config.NumberColumn(format="%,.2f"),
                   "marketed (GB)": st.column_config.NumberColumn(format="%,g"),
                   "bandwidth (GB/s)": st.column_config.NumberColumn(format="%,d"),
                   "BF16 TFLOPS": st.column_config.NumberColumn(format="%,g"),
                   "FP8 TFLOPS": st.column_config.NumberColumn(format="%,g")},
)

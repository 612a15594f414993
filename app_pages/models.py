"""Models page: the bundled model catalog."""

import streamlit as st

from wizard.catalog.summary import model_rows

st.markdown("#### Bundled models")
st.caption("These plan offline. Any other Hugging Face id or a local directory with config.json works too. "
           "Parameters are the checkpoint's count, as the Plan page prints it; KV bytes per token: all layers, bf16, "
           "before tensor parallelism. Click a column to sort.")
st.dataframe(
    [{"model": r["model"], "parameters (B)": r["params_b"], "architecture": r["architecture"], "attention": r["attention"],
      "layers": r["layers"], "context": r["context"], "KV bytes/token": r["kv_bytes_per_token"],
      "quantization": r["quantization"], "notes": r["notes"]} for r in model_rows()],
    hide_index=True, width="stretch", alt="Bundled model catalog",
    column_config={"parameters (B)": st.column_config.NumberColumn(format="%,.2f"),
                   "context": st.column_config.NumberColumn(format="%,d"),
                   "KV bytes/token": st.column_config.NumberColumn(format="%,d")},
)

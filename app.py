"""vLLM Wizard dashboard: `streamlit run app.py`.

Builds the navigation over the pages in app_pages/ and the sidebar shared by all
of them; every page reads inputs, calls the wizard package and draws.
"""

import streamlit as st

from wizard import VLLM_VERSION

st.set_page_config(page_title="vLLM Wizard", page_icon=":material/memory:", layout="wide")

page = st.navigation(
    [
        st.Page("app_pages/plan.py", title="Plan", icon=":material/memory:", default=True,
                help="Will a model fit under vLLM, with which settings, how fast, and the commands to deploy it."),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:",
                help="The cheapest GPUs and layouts that meet a latency or throughput target, and two plans side by side."),
        st.Page("app_pages/gpus.py", title="GPUs", icon=":material/developer_board:",
                help="GPUs detected on this server and the GPU catalog with memory, bandwidth and compute."),
        st.Page("app_pages/models.py", title="Models", icon=":material/view_list:",
                help="The bundled model catalog: parameters, context length, KV bytes per token, architecture."),
    ],
    position="top",
)

with st.sidebar:
    st.caption(f"Memory as vLLM accounts for it (release {VLLM_VERSION} unless a plan names another) · runs offline on "
               "the bundled catalog")

page.run()

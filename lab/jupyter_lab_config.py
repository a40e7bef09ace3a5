"""JupyterLab for the tutorial: `make lab` runs `jupyter lab --config=lab/jupyter_lab_config.py`.

The chapters (`notebooks/*.md`, MyST text notebooks) open as notebooks through jupytext, with no
conversion by hand: jupytext's contents manager reads and writes them as notebooks, and
`settings/overrides.json` makes "Jupytext Notebook" the default viewer for Markdown in JupyterLab
(a default: your own JupyterLab settings still win). tests/test_lab.py starts a server with this file.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)

c.ServerApp.root_dir = str(HERE.parent)  # the repository, wherever the command runs from
c.ServerApp.ip = "127.0.0.1"  # loopback; `make lab LAB_ARGS=--ip=0.0.0.0` to listen elsewhere
c.ServerApp.contents_manager_class = "jupytext.AsyncTextFileContentsManager"
c.LabApp.app_settings_dir = str(HERE / "settings")  # overrides.json: the default viewers

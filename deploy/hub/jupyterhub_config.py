"""JupyterHub configuration for the course on one machine (started by deploy/hub/hubctl.py, which writes
STATE/hub.json and sets HUBCTL_STATE; see deploy/hub/README.md).

- PAM logins for local Unix users (`instructor` is the hub's admin; `student1..3`), nobody else.
- LocalProcessSpawner: each user's server runs as that user, from the course's .venv
  (jupyterhub-singleuser), in JupyterLab, with their role's Jupyter config on JUPYTER_CONFIG_PATH
  (STATE/jupyter/student or STATE/jupyter/instructor: nbgrader's exchange and course id, and which
  nbgrader panels they see). The instructor's server opens on the course folder (formgrader's root).
- configurable-http-proxy from deploy/hub/node_modules, its API and the hub's on free local ports.
"""
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets)

state = Path(os.environ["HUBCTL_STATE"])
s = json.loads((state / "hub.json").read_text())

c.JupyterHub.bind_url = f"http://{s['ip']}:{s['port']}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = s["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [s["proxy"]]
c.ConfigurableHTTPProxy.pid_file = str(state / "hub" / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'hub' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "hub" / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "hub" / "jupyterhub.pid")
# stopping the hub stops every user's server (hubctl stop relies on it, and sweeps up what is left)
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# Test logins: PAM checks the Unix passwords hubctl set. A real class: an OAuthenticator (the institution's SSO).
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = {s["instructor"], *s["students"]}
c.Authenticator.admin_users = {s["instructor"]}

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(Path(s["venv"]) / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180  # two busy cores start four servers at once
c.Spawner.http_timeout = 180


def _user_env(spawner):
    """Each server gets its user's course environment; the instructor's opens on the course folder."""
    name = spawner.user.name
    env = dict(s["user_env"][name])
    env["HUBCTL_STATE"] = str(state)  # hubctl stop finds every process started from this state by it
    for key in ("HOME", "USER", "LOGNAME", "SHELL"):  # the spawner sets these for the user itself
        env.pop(key, None)
    spawner.environment.update(env)
    if name == s["instructor"]:
        spawner.notebook_dir = s["course_dir"]


c.Spawner.pre_spawn_hook = _user_env

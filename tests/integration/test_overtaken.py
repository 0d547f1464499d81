#!/usr/bin/env python3
"""Two instances on one route, one of them overtaken: while instance A
waits for its publish of source commit S1, the source moves on to S2 and
instance B (its own state_dir, the same configuration) promotes S2. A's
publish is refused (B's build is newer); A must not push S1 back on top
of S2, but start over with the newest source commit and find it done.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import git, knob  # noqa: E402

PAIR = {"name": "hello", "source": "dev/alice/Hello", "destination": "prod/acme/Hello"}


class Overtaken(harness.EnvCase):
    def second_instance(self):
        """A configuration that differs from env.config only in its
        state_dir and control socket: instance B."""
        env = self.env
        with open(env.config) as f:
            text = f.read()
        b_state = os.path.join(env.dir, "state-b")
        text = text.replace(json.dumps(env.state), json.dumps(b_state))
        text = text.replace("control.sock", "control-b.sock")
        path = os.path.join(env.dir, "b.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path, b_state

    def test_overtaken_instance_starts_over_with_the_newest(self):
        env = self.env
        env.write_config([PAIR])
        b_config, b_state = self.second_instance()
        s1 = env.commit(files={"src/Hello.py": "v1\n"})
        # A's publish is held 3 s before the server sees it.
        knob(env.prod, "POST", "/_fault",
             {"method": "POST", "path": r"/v1/algorithms/acme/Hello/versions$",
              "delay_ms": 3000, "count": 1})
        a = subprocess.Popen([harness.DAEMON, "-f", env.config, "--once"],
                             env=harness.env_with(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            harness.await_request(env.prod, "/v1/algorithms/acme/Hello/builds")
            harness.wait_for(lambda: env.prod_head() is not None and "Hello@" + s1 in git(
                "log", "-1", "--format=%B", env.prod_head(), cwd=env.prod_clone(name="peek")),
                60, "A's push of S1")
            # Meanwhile the source moves on and B promotes it.
            s2 = env.commit(files={"src/Hello.py": "v2\n"})
            b = subprocess.run([harness.DAEMON, "-f", b_config, "--once"],
                               env=harness.env_with(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
            env.logs.append(b.stdout + b.stderr)
            self.assertEqual(b.returncode, 0, b.stderr)
            out, err = a.communicate(timeout=120)
        finally:
            if a.poll() is None:
                a.kill()
                a.communicate()
        env.logs.append(out + err)
        self.assertEqual(a.returncode, 0, err)
        self.assertIn("the source moved on from %.12s to %.12s" % (s1, s2), err)
        # One version, S2's; S1 was never pushed back on top of it.
        versions = env.prod_versions()
        self.assertEqual(len(versions), 1, versions)
        work = env.prod_clone()
        with open(os.path.join(work, "src/Hello.py")) as f:
            self.assertEqual(f.read(), "v2\n")
        head_msg = git("log", "-1", "--format=%B", cwd=work)
        self.assertIn("Promoted-from: dev/alice/Hello@" + s2, head_msg)
        # Both maps say the same true thing.
        for state in (env.state, b_state):
            path = os.path.join(state, "routes", "hello", "prod.acme.Hello", "versions.jsonl")
            with open(path) as f:
                lines = [json.loads(x) for x in f if x.strip()]
            self.assertEqual([(x["source_commit"], x["dest_version"], x["dest_commit"])
                              for x in lines], [(s2, versions[0][0], versions[0][1])])


if __name__ == "__main__":
    harness.main()

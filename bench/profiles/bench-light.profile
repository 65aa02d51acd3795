# Benchmark-only agent: no process, no jobs, hooks that do next to nothing. It lets the
# scale benchmark push a thousand simulated hosts through the real state machine,
# handlers, SSM documents and host scripts without a thousand listeners on one machine.
# Deployed by the benchmark through local mode's profileFile option; never shipped with
# the stack (profiles/ holds the deployable ones).
#
# Layout: releases/<version>/VERSION, `current` -> the running release. With
# artifact=none, stage creates the empty release directory and hook.install writes its
# VERSION file.
description=Benchmark agent: version file only, hooks are near no-ops
install_root=/opt/bench-light
releases_dir=releases
release_name={version}
link_name=current
previous_link_name=previous
artifact=none
min_free_mb=1
hook_timeout_s=10
health_timeout_s=5

hook.version=cat current/VERSION
hook.install=printf '%s\n' "$AR_VERSION" >"$AR_RELEASE/VERSION"
hook.configure=echo unchanged
hook.suspend=true
hook.resume=true
hook.stopListener=true
hook.startListener=true
hook.health=test "$(cat "$AR_RELEASE/VERSION")" = "$AR_VERSION"
hook.listJobs=true

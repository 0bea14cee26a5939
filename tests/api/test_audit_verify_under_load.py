"""Issue 14 "Broken 1" as it was seen: the audit check over HTTP while others use the server.

The dashboard asked ``GET /v1/audit/verify`` while its own audited requests
appended entries; 46 of 60 checks said "tampered" while two threads listed
subjects. Here two operator threads list subjects (each an audited read)
while an auditor asks for verification 60 times: every answer must be ok.
"""

from __future__ import annotations

import threading

from ._live import LiveServer

CHECKS = 60


def test_verification_over_http_during_audited_requests_never_cries_wolf(
    live: LiveServer,
) -> None:
    done = threading.Event()
    listed = [0, 0]
    failures: list[str] = []

    def list_subjects(slot: int) -> None:
        with live.client("operator") as operator:
            while not done.is_set():
                answer = operator.get("/v1/subjects", params={"purpose": "desk check"})
                if answer.status_code != 200:
                    failures.append(answer.text)
                    return
                listed[slot] += 1

    threads = [threading.Thread(target=list_subjects, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    answers = []
    try:
        with live.client("auditor") as auditor:
            for _ in range(CHECKS):
                answers.append(auditor.get("/v1/audit/verify").json())
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert all(listed), listed  # both threads really appended meanwhile
    alarms = [a["problem"] for a in answers if not a["ok"]]
    assert alarms == [], f"{len(alarms)} of {CHECKS} checks raised a false alarm: {alarms[0]}"
    assert answers[-1]["checked"] > answers[0]["checked"]

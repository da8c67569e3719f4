"""The README's commands and CI's script stay in step; the repository is self-contained."""
import re
import subprocess

from conftest import REPO


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (REPO / "README.md").read_text())[:2]


def test_ci_runs_exactly_the_readme_test_command():
    test_command = readme_commands()[1]
    assert "pytest" in test_command
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


def test_readme_opens_with_install_and_main_job():
    main_job = readme_commands()[0]
    assert main_job.startswith("pip install -e .") and "python -m" in main_job


OUTSIDE_REFERENCES = {
    "a folder next to the repository": re.compile(r"\.\./shared\b"),
    "a design document that is not in the repository": re.compile(r"\bDESIGN\.md\b"),
    "an issue number": re.compile(r"\bissues?\s*(no\.?\s*)?#?\d+", re.IGNORECASE),
}


def tracked_files() -> list:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout:
        return [REPO / name for name in listed.stdout.split("\0") if name]
    return [path for path in REPO.rglob("*") if path.is_file() and ".git" not in path.parts]


def test_no_file_refers_outside_the_repository_or_to_issue_numbers():
    found = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{path.relative_to(REPO)}:{number}: {what}: {line.strip()[:120]}"
                      for what, pattern in OUTSIDE_REFERENCES.items() if pattern.search(line)]
    assert not found, "\n".join(found)


def test_the_reference_patterns_match_what_they_should():
    hits = ["see ../" + "shared/notes", "in DESIGN" + ".md", "(issue" + " 6)", "Issue" + " #12", "issues" + " 3"]
    misses = ["docs/metrics.md", "an issue with the data", "tissue 4"]
    assert all(any(p.search(text) for p in OUTSIDE_REFERENCES.values()) for text in hits)
    assert not any(p.search(text) for p in OUTSIDE_REFERENCES.values() for text in misses)


def test_docs_links_resolve():
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target:
                assert (doc.parent / target).exists(), (doc.name, target)

"""The purl fast path gives exactly what packageurl-python gives."""

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from ironpost.sbom.model import PURL_TYPES, make_purl

SEG = st.text(alphabet=st.sampled_from("abcXYZ019._-+@/~ %:é"), min_size=1, max_size=12)


def reference(eco, name, version):
    namespace, pname = None, name
    if eco == "npm" and name.startswith("@") and "/" in name:
        namespace, pname = name.split("/", 1)
    elif eco == "Go" and "/" in name:
        namespace, pname = name.rsplit("/", 1)
    return PackageURL(type=PURL_TYPES[eco], namespace=namespace, name=pname, version=version or None).to_string()


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["crates.io", "npm", "Go"]), SEG, st.one_of(st.none(), SEG))
def test_fast_purl_matches_packageurl(eco, name, version):
    name = name.strip("/") or "x"
    if eco == "npm" and name.count("@") and not name.startswith("@"):
        name = name.replace("@", "a")
    if "//" in name:
        name = name.replace("//", "/")
    try:
        expected = reference(eco, name, version)
    except (TypeError, ValueError):
        assume(False)
    assert make_purl(eco, name, version) == expected


def test_examples():
    assert make_purl("npm", "@babel/Code-Frame", "7.0.0") == "pkg:npm/%40babel/code-frame@7.0.0"
    assert make_purl("crates.io", "serde_json", "1.0.0+x") == "pkg:cargo/serde_json@1.0.0%2Bx"
    assert make_purl("Go", "github.com/Foo/bar", "v1.2.3") == "pkg:golang/github.com/Foo/bar@v1.2.3"
    assert make_purl("PyPI", "Django_REST", "3.0") == "pkg:pypi/django-rest@3.0"

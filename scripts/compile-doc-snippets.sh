#!/usr/bin/env bash
# Compiles every ```swift block of README.md and Documentation/*.md against the package's own
# modules, so the docs compile as written (issue 21). Prints "N doc snippets compiled".
#
# - A block is skipped when the line right before its fence is the marker
#       <!-- snippet: partial -->
#   (a fragment with `...`, code for another package, pseudo-code). Skipped blocks are counted
#   and listed.
# - Values a snippet uses without defining them (`url`, `destination`, a `store`) are declared on
#   the line before the fence (or right after a partial marker's line is not allowed: one marker
#   per block) with
#       <!-- snippet: given url: URL, destination: URL -->
#   and become the parameters of the function the snippet is compiled in.
# - A block whose top-level lines are all declarations (struct, extension, func, …) is compiled
#   at file scope; any other block is the body of `func snippetN(<given>) async throws`.
#   `import` lines are moved to the top of the snippet's file; a block without any gets
#   `import DownloadResilience`, `import ResilienceTesting` and `import Testing` (a guide's blocks
#   assume its module is imported), Foundation, and FoundationNetworking where it exists. A block
#   with its own imports gets nothing added: it must compile as written. Each block is its own
#   file.
# - All blocks are compiled together in one `swiftc` run (Swift 6 language mode, so strict
#   concurrency diagnostics apply) against the modules of `swift build` (built first if needed).
#   Errors name the Markdown file and line (`#sourceLocation`).
set -euo pipefail
cd "$(dirname "$0")/.."

swift build >/dev/null
modules="$(swift build --show-bin-path)/Modules"
out=.build/doc-snippets
rm -rf "$out" && mkdir -p "$out"

python3 - "$out" README.md Documentation/*.md <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
decl = re.compile(r'^(@|struct |final |class |actor |enum |extension |protocol |func |typealias |public |private |fileprivate |internal |package |nonisolated |//|/\*|\*|\}|\)|$)')
compiled, skipped = 0, []
for name in sys.argv[2:]:
    lines = pathlib.Path(name).read_text().split('\n')
    i = 0
    while i < len(lines):
        if lines[i].strip() != '```swift':
            i += 1
            continue
        start = i
        j = i + 1
        while lines[j].strip() != '```':
            j += 1
        body = lines[start + 1:j]
        before = lines[start - 1].strip() if start > 0 else ''
        i = j + 1
        where = f'{name}:{start + 1}'
        if before == '<!-- snippet: partial -->':
            skipped.append(where)
            continue
        given = ''
        m = re.fullmatch(r'<!-- snippet: given (.*) -->', before)
        if m:
            given = m.group(1)
        imports = [l for l in body if l.startswith('import ')]
        # Import lines become blank lines, so the body keeps the block's line numbers.
        rest = ['' if l.startswith('import ') else l for l in body]
        # Diagnostics point at the Markdown file and line.
        located = [f'#sourceLocation(file: "{name}", line: {start + 2})', *rest, '#sourceLocation()']
        compiled += 1
        if not imports:
            imports = ['import DownloadResilience', 'import ResilienceTesting', 'import Testing', 'import Foundation',
                       '#if canImport(FoundationNetworking)', 'import FoundationNetworking', '#endif']
        text = [f'// {where}', *imports, '']
        if all(decl.match(l) for l in rest if not l[:1].isspace()):
            text += located
        else:
            text += [f'func snippet{compiled}({given}) async throws {{', *located, '}']
        (out / f'snippet{compiled:03}.swift').write_text('\n'.join(text) + '\n')
(out / 'count').write_text(str(compiled))
(out / 'skipped').write_text('\n'.join(skipped))
PY

count=$(cat "$out/count")
# -c (not -typecheck): Swift 6's region-based isolation checks run on SIL, after type checking.
swiftc -swift-version 6 -parse-as-library -wmo -c -suppress-warnings -module-name DocSnippets \
    -I "$modules" -Xcc -fmodule-map-file="$modules/../CSHA256.build/module.modulemap" -o "$out/snippets.o" "$out"/snippet*.swift
skipped=$(grep -c . "$out/skipped" || true)
echo "$count doc snippets compiled ($skipped marked partial and skipped)"

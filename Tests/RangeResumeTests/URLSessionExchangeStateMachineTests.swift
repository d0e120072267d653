import Foundation
@testable import RangeResume
import ResilienceRetry
import Testing

/// The URLSession engine's windowed exchange, decision by decision, without a transport.
@Suite("URLSession exchange state machine")
struct URLSessionExchangeStateMachineTests {
    static let url = URL(string: "http://127.0.0.1:8080/file.bin")!

    static func machine(_ headers: [String: String] = ["Accept-Encoding": "identity"], window: Int = 100)
        -> URLSessionExchangeStateMachine {
        URLSessionExchangeStateMachine(request: TransportRequest(url: url, headers: headers), window: window, lowWater: 50)
    }

    static func head(_ status: Int, _ headers: [String: String], url: URL? = nil) -> TransportResponseHead {
        TransportResponseHead(status: status, headers: headers, url: url)
    }

    static func partial(_ range: String, etag: String? = "\"v1\"", _ extra: [String: String] = [:]) -> TransportResponseHead {
        var headers = ["Content-Range": "bytes \(range)", "Last-Modified": "Tue, 14 Nov 2023 22:13:20 GMT"]
        if let etag { headers["ETag"] = etag }
        return head(206, headers.merging(extra) { $1 })
    }

    /// Runs `machine` through a whole window of `count` bytes that completes normally.
    static func deliver(_ count: Int64, _ machine: inout URLSessionExchangeStateMachine)
        -> URLSessionExchangeStateMachine.Completion {
        machine.forwarded(Int(count))
        return machine.completed(error: nil)
    }

    static func next(_ machine: inout URLSessionExchangeStateMachine) -> TransportRequest? {
        machine.nextWindowRequest()
    }

    @Test(arguments: [
        // (the caller's Range, the first request's Range)
        (nil, "bytes=0-99"),
        ("bytes=500-", "bytes=500-599"),
        ("bytes=10-49", "bytes=10-49"),
        ("bytes=10-500", "bytes=10-109"),
    ] as [(String?, String)])
    func theFirstRequestAsksForOneWindow(range: String?, sent: String) {
        var headers = ["Accept-Encoding": "identity", "If-Range": "\"v0\""]
        headers["Range"] = range
        var machine = Self.machine(headers)
        let request = machine.firstRequest()
        #expect(request.url == Self.url)
        #expect(request.headers == ["Accept-Encoding": "identity", "If-Range": "\"v0\"", "Range": sent])
        #expect(machine.requests == 1)
    }

    @Test(arguments: ["bytes=-100", "bytes=0-9,20-29", "items=0-9", "bytes=9-1"])
    func aRangeItCannotCutIsSentUnchangedAndItsResponseForwarded(range: String) {
        var machine = Self.machine(["Range": range])
        let sent = machine.firstRequest()
        #expect(sent.headers == ["Range": range])
        let answer = Self.partial("0-9/1000")
        guard case .forward(let head) = machine.head(answer) else { Issue.record("expected forward"); return }
        #expect(head == answer)
        guard case .finish(nil) = Self.deliver(10, &machine) else { Issue.record("expected the end"); return }
    }

    @Test func aPlainGETSeesA200WithTheWholeLengthAndGetsEveryWindow() throws {
        var machine = Self.machine(["Accept-Encoding": "identity", "Authorization": "Bearer a"])
        _ = machine.firstRequest()
        guard case .forward(let head) = machine.head(Self.partial("0-99/250", ["Content-Length": "100"])) else {
            Issue.record("expected forward"); return
        }
        #expect(head.status == 200 && head["content-length"] == "250" && head["content-range"] == nil)
        #expect(head["etag"] == "\"v1\"")
        guard case .nextWindowWhenDrained = Self.deliver(100, &machine) else { Issue.record("expected a next window"); return }
        let second = try #require(Self.next(&machine))
        #expect(second.url == Self.url)
        #expect(second.headers == ["Accept-Encoding": "identity", "Authorization": "Bearer a",
                                   "Range": "bytes=100-199", "If-Range": "\"v1\""])
        let noThird = machine.nextWindowRequest()
        #expect(noThird == nil)                                // one request per window
        guard case .proceed = machine.head(Self.partial("100-199/250")) else { Issue.record("expected proceed"); return }
        guard case .nextWindowWhenDrained = Self.deliver(100, &machine) else { Issue.record("expected a next window"); return }
        let third = try #require(Self.next(&machine))
        #expect(third.headers["Range"] == "bytes=200-249")
        guard case .proceed = machine.head(Self.partial("200-249/250")) else { Issue.record("expected proceed"); return }
        guard case .finish(nil) = Self.deliver(50, &machine) else { Issue.record("expected the end"); return }
        #expect(machine.delivered == 250 && machine.requests == 3 && machine.phase == .finished)
    }

    @Test func aRangedRequestSeesA206SpanningItsWholeRange() throws {
        var machine = Self.machine(["Range": "bytes=40-", "If-Range": "\"v1\""])
        _ = machine.firstRequest()
        guard case .forward(let head) = machine.head(Self.partial("40-139/1000")) else { Issue.record("expected forward"); return }
        #expect(head.status == 206 && head["content-range"] == "bytes 40-999/1000" && head["content-length"] == "960")

        var bounded = Self.machine(["Range": "bytes=40-2000"])
        _ = bounded.firstRequest()
        guard case .forward(let short) = bounded.head(Self.partial("40-139/150")) else { Issue.record("expected forward"); return }
        #expect(short["content-range"] == "bytes 40-149/150" && short["content-length"] == "110")
        _ = Self.deliver(100, &bounded)
        let next = try #require(Self.next(&bounded))
        #expect(next.headers["Range"] == "bytes=140-149")
    }

    @Test func theLastModifiedDateIsTheValidatorWhenTheETagIsWeak() throws {
        var machine = Self.machine()
        _ = machine.firstRequest()
        _ = machine.head(Self.partial("0-99/300", etag: "W/\"weak\""))
        _ = Self.deliver(100, &machine)
        let next = try #require(Self.next(&machine))
        #expect(next.headers["If-Range"] == "Tue, 14 Nov 2023 22:13:20 GMT")
    }

    @Test(arguments: [
        TransportResponseHead(status: 200, headers: ["Content-Length": "1000"]),            // Range ignored
        TransportResponseHead(status: 404, headers: [:]),
        TransportResponseHead(status: 503, headers: ["Retry-After": "1"]),
    ])
    func answersThatAreNotAWindowAreForwardedAsTheyAre(answer: TransportResponseHead) {
        var machine = Self.machine()
        _ = machine.firstRequest()
        guard case .forward(let head) = machine.head(answer) else { Issue.record("expected forward"); return }
        #expect(head == answer)
        machine.forwarded(1000)
        guard case .finish(nil) = machine.completed(error: nil) else { Issue.record("expected the end"); return }
    }

    @Test(arguments: [
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 0-99/*"]),     // total unknown
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 0-49/1000"]),  // not the window asked for
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 5-104/1000"]),
        TransportResponseHead(status: 416, headers: ["Content-Range": "bytes */0"]),         // a GET had no Range
    ])
    func aFirstWindowThatCannotBePresentedMakesItResendTheCallersRequest(answer: TransportResponseHead) {
        var machine = Self.machine()
        _ = machine.firstRequest()
        guard case .resend(let request) = machine.head(answer) else { Issue.record("expected a resend"); return }
        #expect(request == machine.request && machine.requests == 2)
        let plain = Self.head(200, ["Content-Length": "0"])
        guard case .forward(let head) = machine.head(plain) else { Issue.record("expected forward"); return }
        #expect(head == plain)                                   // the resend's answer, as it is
    }

    @Test(arguments: [
        TransportResponseHead(status: 416, headers: ["Content-Range": "bytes */1000"]),
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 0-99/1000"]),   // not where it asked
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 1000-1099/*"]),
    ])
    func aRangedCallerJudgesAnyOtherAnswerItself(answer: TransportResponseHead) {
        var machine = Self.machine(["Range": "bytes=1000-", "If-Range": "\"v1\""])
        _ = machine.firstRequest()
        guard case .forward(let head) = machine.head(answer) else { Issue.record("expected forward"); return }
        #expect(head == answer)
        #expect(machine.entity == nil)                           // not windowed
    }

    @Test func anEncodedAnswerIsForwardedForTheCallerToRefuse() {
        var machine = Self.machine()
        _ = machine.firstRequest()
        let answer = Self.head(206, ["Content-Range": "bytes 0-99/1000", "Content-Encoding": "gzip"])
        guard case .forward(let head) = machine.head(answer) else { Issue.record("expected forward"); return }
        #expect(head == answer)
    }

    /// A plain GET of 300 bytes in windows of 100 whose second window's request is out.
    static func awaitingSecondWindow() throws -> URLSessionExchangeStateMachine {
        var machine = Self.machine()
        _ = machine.firstRequest()
        _ = machine.head(Self.partial("0-99/300"))
        _ = Self.deliver(100, &machine)
        _ = try #require(Self.next(&machine))
        return machine
    }

    @Test(arguments: [
        TransportResponseHead(status: 200, headers: ["Content-Length": "300"]),              // validator changed
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 0-99/300"]),    // wrong start
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 100-198/300"]), // wrong end
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 100-199/400"]), // other length
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 100-199/300", "ETag": "\"v2\""]),
        TransportResponseHead(status: 206, headers: ["Content-Range": "bytes 100-199/300", "Content-Encoding": "br"]),
        TransportResponseHead(status: 206, headers: [:]),
        TransportResponseHead(status: 200, headers: ["Content-Length": "300"]),               // Range ignored now
    ])
    func aLaterWindowThatIsNotExactlyItsBytesEndsTheStream(answer: TransportResponseHead) throws {
        var machine = try Self.awaitingSecondWindow()
        guard case .fail(let error) = machine.head(answer), case .resumeMismatch(let reason)? = error as? RangeResumeError else {
            Issue.record("expected a resume mismatch"); return
        }
        #expect(reason.contains("100-199/300"))
        #expect(machine.phase == .finished)
        guard case .ignore = machine.completed(error: URLError(.cancelled)) else { Issue.record("not ignored"); return }
    }

    /// A window refused with an error status (an expired token's 401, a 503 with Retry-After)
    /// ends the stream with that status, for the resumer to classify (and re-authorize) as usual.
    @Test(arguments: [401, 403, 429, 503])
    func aLaterWindowRefusedWithAnErrorStatusEndsTheStreamWithIt(status: Int) throws {
        var machine = try Self.awaitingSecondWindow()
        let answer = TransportResponseHead(status: status, headers: ["Retry-After": "7"])
        guard case .fail(let error) = machine.head(answer), let refused = error as? HTTPStatusError else {
            Issue.record("expected an HTTPStatusError"); return
        }
        #expect(refused.status == status && refused.retryAfter == "7")
        #expect(machine.phase == .finished)
    }

    @Test func aShortWindowOrAnErrorEndsTheStreamForTheConsumerToJudge() {
        var short = Self.machine()
        _ = short.firstRequest()
        _ = short.head(Self.partial("0-99/300"))
        guard case .finish(nil) = Self.deliver(60, &short) else { Issue.record("expected the end"); return }

        var failing = Self.machine()
        _ = failing.firstRequest()
        _ = failing.head(Self.partial("0-99/300"))
        failing.forwarded(30)
        guard case .finish(let error?) = failing.completed(error: URLError(.networkConnectionLost)) else {
            Issue.record("expected the error"); return
        }
        #expect((error as? URLError)?.code == .networkConnectionLost)
    }

    @Test func laterWindowsGoToTheAnsweringURLWithoutCredentialsForAnotherOrigin() throws {
        var machine = Self.machine(["Authorization": "Bearer a", "Cookie": "c=1", "X-Trace": "t"])
        _ = machine.firstRequest()
        let elsewhere = URL(string: "http://localhost:9090/moved.bin")!
        _ = machine.head(Self.head(206, ["Content-Range": "bytes 0-99/300"], url: elsewhere))
        _ = Self.deliver(100, &machine)
        let next = try #require(Self.next(&machine))
        #expect(next.url == elsewhere)
        #expect(next.headers == ["X-Trace": "t", "Range": "bytes=100-199"])   // no validator: none sent
    }

    @Test func endingFromOutsideCancelsOnlyARunningTask() {
        var streaming = Self.machine()
        _ = streaming.firstRequest()
        _ = streaming.head(Self.partial("0-99/300"))
        let running = streaming.end()
        #expect(running && streaming.phase == .finished)
        let again = streaming.end()
        #expect(!again)
        guard case .ignore = streaming.completed(error: URLError(.cancelled)) else { Issue.record("not ignored"); return }

        var between = Self.machine()
        _ = between.firstRequest()
        _ = between.head(Self.partial("0-99/300"))
        _ = Self.deliver(100, &between)
        let idle = between.end()
        #expect(!idle)                                           // no task runs between windows
        let next = between.nextWindowRequest()
        #expect(next == nil)
    }

    /// Runs one more window of an adaptive exchange (window 100...400, low water 50) whose
    /// consumer lagged by at most `pending` bytes; returns the size the next window asks for.
    static func adaptiveStep(_ machine: inout URLSessionExchangeStateMachine, pending: Int64) throws -> Int64 {
        let size = machine.windowLast - machine.windowFirst + 1
        machine.forwarded(Int(size) / 2, received: size / 2 + pending, queued: 0)   // the session read ahead
        machine.forwarded(Int(size) - Int(size) / 2, received: size, queued: 0)
        guard case .nextWindowWhenDrained = machine.completed(error: nil) else {
            Issue.record("expected a next window")
            return 0
        }
        let sent = machine.nextWindowRequest()
        let next = try #require(sent)
        _ = machine.head(Self.partial("\(machine.windowFirst)-\(machine.windowLast)/100000"))
        let range = try #require(URLSessionExchangeStateMachine.singleRange(next.headers["Range"] ?? ""))
        let last = try #require(range.1)
        return last - range.0 + 1
    }

    @Test func windowsGrowWhileTheConsumerKeepsUpAndShrinkWhenBytesPileUp() throws {
        var machine = URLSessionExchangeStateMachine(
            request: TransportRequest(url: Self.url, headers: [:]), window: 400, lowWater: 50, minimumWindow: 100)
        #expect(machine.firstRequest().headers["Range"] == "bytes=0-99")     // starts at the minimum
        _ = machine.head(Self.partial("0-99/100000"))
        // Kept up (at most the low water waited): 100 → 200 → 400, and never past the maximum.
        #expect(try Self.adaptiveStep(&machine, pending: 50) == 200)
        #expect(try Self.adaptiveStep(&machine, pending: 10) == 400)
        #expect(try Self.adaptiveStep(&machine, pending: 0) == 400)
        // Between the low water and half a window: the size holds.
        #expect(try Self.adaptiveStep(&machine, pending: 200) == 400)
        // More than half a window waited at once: 400 → 200 → 100, and never under the minimum.
        #expect(try Self.adaptiveStep(&machine, pending: 201) == 200)
        #expect(try Self.adaptiveStep(&machine, pending: 150) == 100)
        #expect(try Self.adaptiveStep(&machine, pending: 100) == 100)
        // What waited in the channel counts as much as what the session read ahead.
        machine.forwarded(100, received: 100, queued: 51)
        guard case .nextWindowWhenDrained = machine.completed(error: nil) else { Issue.record("expected a next window"); return }
        let last = machine.nextWindowRequest()
        #expect(last?.headers["Range"] == "bytes=\(machine.windowFirst)-\(machine.windowFirst + 99)")
    }

    @Test func fixedWindowsStayFixed() throws {
        var machine = Self.machine()                               // window 100, no minimum given
        _ = machine.firstRequest()
        _ = machine.head(Self.partial("0-99/100000"))
        #expect(try Self.adaptiveStep(&machine, pending: 0) == 100)
        #expect(try Self.adaptiveStep(&machine, pending: 100) == 100)
    }

    @Test func windowsNeverOverflowTheOffsetArithmetic() {
        #expect(URLSessionExchangeStateMachine.windowLast(from: .max - 5, window: 100, cap: nil) == .max)
        #expect(URLSessionExchangeStateMachine.windowLast(from: 10, window: 100, cap: 50) == 50)
        #expect(URLSessionExchangeStateMachine.windowLast(from: 10, window: 100, cap: nil) == 109)
    }

    @Test func sameOriginComparesSchemeHostAndPort() {
        let a = URL(string: "http://Example.test/a")!
        #expect(URLSessionExchangeStateMachine.sameOrigin(a, URL(string: "http://example.test:80/b")!))
        #expect(!URLSessionExchangeStateMachine.sameOrigin(a, URL(string: "https://example.test/b")!))
        #expect(!URLSessionExchangeStateMachine.sameOrigin(a, URL(string: "http://example.test:81/b")!))
        #expect(!URLSessionExchangeStateMachine.sameOrigin(a, URL(string: "http://other.test/b")!))
    }
}

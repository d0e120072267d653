import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ResilienceRetry
import Testing

private struct UnknownError: Error {}

private struct Throttled: Error, RetryClassifiable {
    var retryDecision: RetryDecision { .retryAfter(.seconds(9)) }
}

@Suite("RetryClassifier")
struct RetryClassifierTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test func cancellationIsNeverRetried() {
        #expect(RetryClassifier.default.classify(CancellationError(), now: now) == .stop)
        #expect(RetryClassifier.default.classify(URLError(.cancelled), now: now) == .stop)
        #expect(RetryClassifier.always.classify(CancellationError(), now: now) == .stop)
        #expect(RetryClassifier.always.classify(URLError(.cancelled), now: now) == .stop)
    }

    @Test(arguments: [URLError.Code.timedOut, .networkConnectionLost, .cannotConnectToHost,
                      .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet])
    func transientURLErrors(code: URLError.Code) {
        #expect(RetryClassifier.default.classify(URLError(code), now: now) == .retry)
    }

    @Test(arguments: [URLError.Code.badURL, .unsupportedURL, .userAuthenticationRequired,
                      .badServerResponse, .fileDoesNotExist, .secureConnectionFailed])
    func permanentURLErrors(code: URLError.Code) {
        #expect(RetryClassifier.default.classify(URLError(code), now: now) == .stop)
    }

    @Test(arguments: 100...599)
    func httpStatusTable(status: Int) {
        let expected: RetryDecision = [408, 425, 429, 500, 502, 503, 504].contains(status) ? .retry : .stop
        #expect(RetryClassifier.default.classify(HTTPStatusError(status: status), now: now) == expected)
    }

    @Test func retryAfterIsReadFromTransientResponses() {
        let delta = HTTPStatusError(status: 429, headers: ["retry-after": "7"])
        #expect(RetryClassifier.default.classify(delta, now: now) == .retryAfter(.seconds(7)))
        let date = HTTPStatusError(status: 503, headers: ["Retry-After": "Tue, 14 Nov 2023 22:15:00 GMT"])
        #expect(RetryClassifier.default.classify(date, now: now) == .retryAfter(.seconds(100)))
        let garbage = HTTPStatusError(status: 503, headers: ["RETRY-AFTER": "soon"])
        #expect(RetryClassifier.default.classify(garbage, now: now) == .retry)
        let permanent = HTTPStatusError(status: 404, headers: ["Retry-After": "7"])
        #expect(RetryClassifier.default.classify(permanent, now: now) == .stop)
    }

    @Test func packageAndCustomErrors() {
        let incomplete = IncompleteDownloadError(expectedBytes: 100, receivedBytes: 40)
        #expect(RetryClassifier.default.classify(incomplete, now: now) == .retry)
        #expect(RetryClassifier.default.classify(Throttled(), now: now) == .retryAfter(.seconds(9)))
        #expect(RetryClassifier.default.classify(UnknownError(), now: now) == .stop)
        #expect(RetryClassifier.always.classify(UnknownError(), now: now) == .retry)
    }

    @Test func composedRulesComeFirstAndFallThrough() {
        let classifier = RetryClassifier.default.adding { error in
            error is UnknownError ? .retry : nil
        }.adding { error in
            (error as? HTTPStatusError)?.status == 503 ? .stop : nil
        }
        #expect(classifier.classify(UnknownError(), now: now) == .retry)
        #expect(classifier.classify(HTTPStatusError(status: 503), now: now) == .stop)
        #expect(classifier.classify(HTTPStatusError(status: 500), now: now) == .retry)
        #expect(classifier.classify(HTTPStatusError(status: 404), now: now) == .stop)
        let fromClosure = RetryClassifier { _, now in .retryAfter(.seconds(Int64(now.timeIntervalSince1970) % 10)) }
        #expect(fromClosure.classify(UnknownError(), now: Date(timeIntervalSince1970: 13)) == .retryAfter(.seconds(3)))
    }

    @Test func headerLookupIgnoresCase() {
        let error = HTTPStatusError(status: 503, headers: ["ETag": "\"a\"", "retry-AFTER": "3"])
        #expect(error.value(forHeader: "etag") == "\"a\"")
        #expect(error.retryAfter == "3")
        #expect(error.value(forHeader: "missing") == nil)
        #expect(error.description == "HTTP 503 Service Unavailable")
    }
}

@Suite("RetryPolicy")
struct RetryPolicyTests {
    @Test func presets() {
        #expect(RetryPolicy.default.maxAttempts == 5)
        #expect(RetryPolicy.default.backoff == .exponential(base: .seconds(1), multiplier: 2, cap: .seconds(60), jitter: .full))
        #expect(RetryPolicy.default.maxElapsed == nil)
        #expect(RetryPolicy.none.maxAttempts == 1)
    }

    @Test func validation() throws {
        #expect(throws: RetryPolicy.ValidationError.maxAttemptsBelowOne(0)) { try RetryPolicy(maxAttempts: 0) }
        #expect(throws: RetryPolicy.ValidationError.maxAttemptsBelowOne(-3)) { try RetryPolicy(maxAttempts: -3) }
        #expect(throws: RetryPolicy.ValidationError.invalidBackoff) {
            try RetryPolicy(backoff: .exponential(base: .seconds(-1)))
        }
        #expect(throws: RetryPolicy.ValidationError.invalidBackoff) {
            try RetryPolicy(backoff: .exponential(base: .seconds(10), cap: .seconds(1)))
        }
        #expect(throws: RetryPolicy.ValidationError.invalidBackoff) {
            try RetryPolicy(backoff: .exponential(multiplier: 0.5))
        }
        #expect(throws: RetryPolicy.ValidationError.invalidBackoff) {
            try RetryPolicy(backoff: .exponential(multiplier: .nan))
        }
        #expect(throws: RetryPolicy.ValidationError.invalidBackoff) { try RetryPolicy(backoff: .constant(.seconds(-1))) }
        #expect(throws: RetryPolicy.ValidationError.negativeMaxElapsed(.seconds(-1))) {
            try RetryPolicy(maxElapsed: .seconds(-1))
        }
        #expect(throws: RetryPolicy.ValidationError.negativeMaxRetryAfter(.seconds(-1))) {
            try RetryPolicy(maxRetryAfter: .seconds(-1))
        }
        let policy = try RetryPolicy(maxAttempts: 1, backoff: .constant(.zero), maxElapsed: .zero, maxRetryAfter: .zero)
        #expect(policy.maxAttempts == 1)
    }
}

@Suite("RetryBudget")
struct RetryBudgetTests {
    @Test func spendsAndRefills() {
        let budget = RetryBudget(capacity: 12, retryCost: 5, successRefill: 2)
        #expect(budget.tryWithdraw())
        #expect(budget.tryWithdraw())
        #expect(budget.availableTokens == 2)
        #expect(!budget.tryWithdraw())
        #expect(budget.availableTokens == 2)
        for _ in 0..<10 { budget.recordSuccess() }
        #expect(budget.availableTokens == 12)  // never above capacity
    }

    @Test func negativeSettingsAreClamped() {
        let budget = RetryBudget(capacity: -1, retryCost: -1, successRefill: -1)
        #expect(budget.capacity == 0 && budget.retryCost == 0 && budget.successRefill == 0)
        #expect(budget.tryWithdraw())  // a cost of zero is always affordable
    }

    @Test func concurrentUseNeverOverspends() async {
        let budget = RetryBudget(capacity: 1_000, retryCost: 3, successRefill: 0)
        let granted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<200).reduce(0) { count, _ in count + (budget.tryWithdraw() ? 1 : 0) } }
            }
            return await group.reduce(0, +)
        }
        #expect(granted == 333)
        #expect(budget.availableTokens == 1)
    }
}

import Foundation
import RangeResume

/// The checks of how an exchange ends from the consumer's side: stalls, cancellation at any
/// moment, and the memory bound under a slow consumer.
extension TransportConformance {
    /// The error the checks cancel with, to tell it from the engine's.
    struct ConsumerCancelled: Error {}

    /// How many random cancellations ``cancelAtRandomMoments(_:)`` makes.
    static let cancellations = 200

    /// Most events an engine may still try to deliver after the consumer cancelled: one head and
    /// one chunk already in flight when the cancel lands.
    static let eventsInFlightAtCancel = 2

    /// The server stops sending (before the head, or mid-body): the engine delivers nothing
    /// more and does not end the stream normally, and the consumer's cancel ends the exchange at
    /// once (the engine then lets go).
    static func stall(_ context: Context) async throws -> Outcome {
        let (server, _, _) = try Self.server(context, count: 100_000)
        defer { server.stop() }
        for (index, fault) in [HTTPFault.stallBeforeHeaders, .stallAfter(bytes: 1000)].enumerated() {
            server.enqueueFaults([fault], for: path)
            let channel = TransportChannel(limit: 64 << 10)
            context.note("\(fault): waiting for what the server sends")
            context.transport.start(TransportRequest(url: server.url(for: path), headers: ["Accept-Encoding": "identity"]), into: channel)
            var received = 0
            while fault != .stallBeforeHeaders && received < 1000 {
                switch try await channel.next() {
                case .head?: continue
                case .body(let data)?: received += data.count
                case nil: throw context.failure("\(fault): the stream ended normally after \(received) of 100000 bytes")
                }
            }
            // Whatever comes first: the request reaching the server, or an event (there must be none).
            let pending = Task { () -> TransportEvent? in try await channel.next() }
            let arrived = await withTaskGroup(of: Bool.self) { group in
                group.addTask { _ = await server.requests(atLeast: index + 1); return true }
                group.addTask { _ = await pending.result; return false }
                let first = await group.next() ?? false
                context.note("\(fault): cancelling the stalled exchange")
                channel.cancel(ConsumerCancelled())
                group.cancelAll()
                return first
            }
            let result = await pending.result
            if !arrived || (try? result.get()) != nil {
                let what = switch result {
                case .success(let event): event.map { "\($0)" } ?? "a normal end"
                case .failure(let error): "\(error)"
                }
                throw context.failure("\(fault): the engine delivered \(what) while the server stalled")
            }
            context.note("\(fault): waiting for the engine to release the cancelled exchange")
            await channel.waitUntilReleased()
        }
        return .passed
    }

    /// When the consumer cancels.
    enum Moment: CaseIterable {
        case beforeStart, atStart, afterHead, midBody, afterEnd, deadHost, stalledHead
    }

    /// Hundreds of exchanges, each cancelled at a seeded random moment (before the start, at it,
    /// after the head, mid-body, after the end, while connecting to a closed port, while waiting
    /// for a head that never comes): after the cancel the consumer sees only the error, the
    /// engine lets go, and it stops delivering within ``eventsInFlightAtCancel`` events.
    static func cancelAtRandomMoments(_ context: Context) async throws -> Outcome {
        let (server, _, _) = try Self.server(context, count: 256 << 10)
        defer { server.stop() }
        server.setRandomFaults(rate: 1, seed: context.seed, kinds: [.stallBeforeHeaders], for: "/stall.bin")
        server.serve([1, 2, 3], at: "/stall.bin")
        let closed = try FaultyHTTPServer()
        let deadURL = closed.url(for: path)
        closed.stop()
        var random = SeededRandomNumberGenerator(seed: context.seed)
        var channels: [(TransportChannel, Moment)] = []
        for index in 0..<cancellations {
            let moment = Moment.allCases.randomElement(using: &random)!
            let url = moment == .deadHost ? deadURL : server.url(for: moment == .stalledHead ? "/stall.bin" : path)
            let channel = TransportChannel(limit: 64 << 10)
            channels.append((channel, moment))
            context.note("cancellation \(index) \(moment)")
            if moment == .beforeStart { channel.cancel(ConsumerCancelled()) }
            context.transport.start(TransportRequest(url: url, headers: ["Accept-Encoding": "identity"]), into: channel)
            for _ in 0..<Int.random(in: 0..<4, using: &random) { await Task.yield() }
            let events = Int.random(in: 1..<8, using: &random)
            var seen = 0
            do {
                switch moment {
                case .afterHead: _ = try await channel.next()
                case .midBody: while seen < events, try await channel.next() != nil { seen += 1 }
                case .afterEnd: while try await channel.next() != nil {}
                case .beforeStart, .atStart, .deadHost, .stalledHead: break
                }
            } catch {
                // The engine ended the stream first (e.g. the dead host): cancel anyway.
            }
            channel.cancel(ConsumerCancelled())
            if let event = try? await channel.next() {
                throw context.failure("cancellation \(index) (\(moment)): the consumer got \(event) after its cancel")
            }
            context.note("cancellation \(index) \(moment): waiting for the engine to release")
            await channel.waitUntilReleased()
        }
        for (index, (channel, moment)) in channels.enumerated() where channel.rejectedAfterCancel > eventsInFlightAtCancel {
            throw context.failure("cancellation \(index) (\(moment)): the engine tried to deliver \(channel.rejectedAfterCancel) events after the cancel")
        }
        return .passed
    }

    /// A consumer that pauses after every event while a 4 MiB body arrives: the engine must keep
    /// the queue within `TransportChannel.queueBound` (it reads no faster than the consumer
    /// takes), and the body must arrive whole.
    static func memoryBoundUnderSlowConsumer(_ context: Context) async throws -> Outcome {
        let (server, body, _) = try Self.server(context, count: 4 << 20)
        defer { server.stop() }
        let delivery = try await fetch(context, server.url(for: path), limit: 64 << 10, pace: .milliseconds(1))
        let channel = delivery.channel
        try context.require(channel.peakQueuedBytes <= channel.queueBound,
                            "\(channel.peakQueuedBytes) body bytes queued at once, above the bound of \(channel.queueBound) (limit \(channel.limit)): the engine reads faster than the consumer takes")
        try requireComplete(delivery, status: 200, body: body[...], "a slowly consumed body", context)
        return .passed
    }
}

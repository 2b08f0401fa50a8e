using System.Net.Sockets;
using System.Text;
using Hcs.Client;
using Hcs.Schema.Hcs;

namespace Hcs.Tests.Integration.Client;

/// <summary>
/// Hcs.Client reads hcsd's one-document answers itself (HcsConnection.SendAsync). hcsd always
/// sends a Content-Length; the other shapes HTTP/1.1 allows are tested here against a scripted
/// server on a Unix socket: chunked bodies, a kept-alive connection used again, one the server
/// closed while it sat idle (the request goes again on a new one), and an answer cut short.
/// </summary>
public sealed class HttpAnswerTests : IDisposable
{
    private const string Service = """{"Version":"1.0.0","SupportedSchemaVersions":[{"Major":2,"Minor":1}],"IsolationKinds":["Process"],"CgroupMode":"v2"}""";

    private readonly string _dir = Directory.CreateTempSubdirectory("hcs-http-").FullName;
    private string SocketPath => Path.Combine(_dir, "s.sock");
    private int _connections;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Serves each connection with <paramref name="answer"/> (request number on that
    /// connection → bytes to send; null closes the connection instead), closing it after each
    /// answer with <paramref name="closeAfter"/>.</summary>
    private Socket Serve(Func<int, byte[]?> answer, bool closeAfter = false)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(8);
        _ = Task.Run(async () =>
        {
            while (true)
            {
                Socket c;
                try { c = await listener.AcceptAsync(); }
                catch (Exception) { return; }
                Interlocked.Increment(ref _connections);
                _ = Task.Run(async () =>
                {
                    using var conn = c;
                    var buffer = new byte[8192];
                    var pending = new StringBuilder();
                    for (int n = 0; ; n++)
                    {
                        while (!pending.ToString().Contains("\r\n\r\n"))
                        {
                            int got = await conn.ReceiveAsync(buffer);
                            if (got == 0) return;
                            pending.Append(Encoding.ASCII.GetString(buffer, 0, got));
                        }
                        var text = pending.ToString();
                        pending.Clear().Append(text[(text.IndexOf("\r\n\r\n") + 4)..]); // GETs have no body
                        if (answer(n) is not { } bytes) return;
                        await conn.SendAsync(bytes);
                        if (closeAfter) return;
                    }
                });
            }
        });
        return listener;
    }

    private static byte[] Answer(string head, string body) => Encoding.ASCII.GetBytes(head + "\r\n\r\n" + body);

    private static string Chunked(string body, int size)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < body.Length; i += size)
        {
            var part = body.Substring(i, Math.Min(size, body.Length - i));
            sb.Append($"{part.Length:x}\r\n{part}\r\n");
        }
        return sb.Append("0\r\n\r\n").ToString();
    }

    [Fact]
    public async Task A_chunked_answer_is_read_whole_and_the_connection_used_again()
    {
        using var server = Serve(_ => Answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked", Chunked(Service, 17)));
        await using var hcs = new HostComputeService(SocketPath);
        for (int i = 0; i < 3; i++)
        {
            var info = await hcs.GetServiceInfoAsync();
            Assert.Equal("1.0.0", info.Version);
            Assert.Equal("v2", info.CgroupMode);
        }
        Assert.Equal(1, _connections);
    }

    [Fact]
    public async Task A_connection_the_server_closed_while_idle_is_replaced()
    {
        // every connection answers once, then closes without saying so (as a keep-alive timeout does)
        using var server = Serve(n => n == 0 ? Answer($"HTTP/1.1 200 OK\r\nContent-Length: {Service.Length}", Service) : null);
        await using var hcs = new HostComputeService(SocketPath);
        Assert.Equal("1.0.0", (await hcs.GetServiceInfoAsync()).Version);
        await Task.Delay(100); // the server has closed it by now
        Assert.Equal("1.0.0", (await hcs.GetServiceInfoAsync()).Version);
        Assert.Equal(2, _connections);
    }

    [Fact]
    public async Task An_answer_cut_short_is_a_lost_connection_not_a_retry()
    {
        using var server = Serve(_ => Answer($"HTTP/1.1 200 OK\r\nContent-Length: {Service.Length + 50}", Service), closeAfter: true);
        await using var hcs = new HostComputeService(SocketPath);
        var e = await Assert.ThrowsAsync<HcsException>(() => hcs.GetServiceInfoAsync());
        Assert.Equal(HcsError.ConnectionClosed.Name, e.Error.Name);
        Assert.Equal(1, _connections); // the server answered: it is not asked twice
    }

    [Fact]
    public async Task Cancelling_a_request_that_waits_for_its_answer_is_a_cancellation()
    {
        using var server = Serve(_ => Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\n")); // and then nothing
        await using var hcs = new HostComputeService(SocketPath);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hcs.GetServiceInfoAsync(cts.Token));
    }
}

using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Schema.Oci;

namespace Hcs.Tests.Unit.Schema;

/// <summary>
/// The hand-written reader and writer (OciReader/OciWriter, chosen over the serializer for
/// start-up time) against each other and against the source-generated serializer, which
/// derives the field names from the types themselves.
/// </summary>
public sealed class OciRoundTripTests
{
    [Fact]
    public void The_full_spec_sets_every_property_of_every_type()
    {
        var visited = FullSpec.AssertFullyPopulated(FullSpec.Build());
        // every class of the runtime spec reachable from Spec; State and the seccomp agent's
        // ContainerProcessState are documents of their own
        var all = typeof(Spec).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(Spec).Namespace && t.IsClass && t.IsPublic && !t.IsAbstract &&
                        t.GetConstructor(Type.EmptyTypes) is not null &&
                        t != typeof(State) && t != typeof(ContainerProcessState) && t != typeof(OciJsonContext))
            .ToHashSet();
        Assert.Empty(all.Except(visited).Select(t => t.Name));
    }

    [Fact]
    public void Writer_output_read_back_and_rewritten_is_byte_identical()
    {
        var first = OciWriter.ToUtf8(FullSpec.Build());
        var read = OciReader.ReadSpec(first, "config.json");
        var second = OciWriter.ToUtf8(read);
        Assert.Equal(Encoding.UTF8.GetString(first), Encoding.UTF8.GetString(second));
        Assert.Equal(first, second);
    }

    [Fact]
    public void Reader_restores_every_value_of_the_full_spec()
    {
        var spec = FullSpec.Build();
        var read = OciReader.ReadSpec(OciWriter.ToUtf8(spec), "config.json");
        FullSpec.AssertFullyPopulated(read);
        FullSpec.AssertDeepEqual(spec, read);
    }

    [Fact]
    public void Writer_and_source_generated_serializer_produce_the_same_json_tree()
    {
        var spec = FullSpec.Build();
        var hand = JsonNode.Parse(OciWriter.ToUtf8(spec));
        var generated = JsonNode.Parse(JsonSerializer.Serialize(spec, OciJsonContext.Default.Spec));
        AssertSameTree(generated, hand);
    }

    [Fact]
    public void Reader_accepts_the_source_generated_serializers_output()
    {
        var spec = FullSpec.Build();
        var bytes = JsonSerializer.SerializeToUtf8Bytes(spec, OciJsonContext.Default.Spec);
        FullSpec.AssertDeepEqual(spec, OciReader.ReadSpec(bytes, "config.json"));
    }

    [Fact]
    public void Serializer_reads_the_writers_output_into_the_same_objects()
    {
        var spec = FullSpec.Build();
        var viaSerializer = JsonSerializer.Deserialize(OciWriter.ToUtf8(spec), OciJsonContext.Default.Spec);
        FullSpec.AssertDeepEqual(spec, viaSerializer);
    }

    [Fact]
    public void Indented_output_is_the_same_tree()
    {
        var spec = FullSpec.Build();
        var indented = OciWriter.ToUtf8(spec, indented: true);
        Assert.Contains((byte)'\n', indented);
        AssertSameTree(JsonNode.Parse(OciWriter.ToUtf8(spec)), JsonNode.Parse(indented));
    }

    [Fact]
    public void Process_alone_round_trips_and_matches_the_serializer()
    {
        var p = FullSpec.BuildProcess();
        var bytes = Write(w => OciWriter.Write(w, p));
        var read = OciReader.ReadProcess(bytes, "process.json");
        FullSpec.AssertDeepEqual(p, read);
        Assert.Equal(bytes, Write(w => OciWriter.Write(w, read)));
        AssertSameTree(JsonNode.Parse(JsonSerializer.Serialize(p, OciJsonContext.Default.Process)), JsonNode.Parse(bytes));
    }

    [Fact]
    public void Resources_alone_round_trip_and_match_the_serializer()
    {
        var r = FullSpec.BuildResources();
        var bytes = Write(w => OciWriter.Write(w, r));
        var read = OciReader.ReadResources(bytes, "resources.json");
        FullSpec.AssertDeepEqual(r, read);
        Assert.Equal(bytes, Write(w => OciWriter.Write(w, read)));
        AssertSameTree(JsonNode.Parse(JsonSerializer.Serialize(r, OciJsonContext.Default.Resources)), JsonNode.Parse(bytes));
    }

    [Fact]
    public void State_writer_matches_the_serializer()
    {
        var s = new State
        {
            OciVersion = "1.2.0", Id = "ctr1", Status = "running", Pid = 4242, Bundle = "/b",
            Annotations = new() { ["a.b"] = "c" },
        };
        var hand = JsonNode.Parse(Write(w => OciWriter.Write(w, s)));
        AssertSameTree(JsonNode.Parse(JsonSerializer.Serialize(s, OciJsonContext.Default.State)), hand);
    }

    [Fact]
    public void A_minimal_spec_writes_only_what_is_set()
    {
        var json = Encoding.UTF8.GetString(OciWriter.ToUtf8(new Spec { OciVersion = "1.0.0" }));
        Assert.Equal("""{"ociVersion":"1.0.0"}""", json);
        // and the serializer agrees that nulls are omitted
        Assert.Equal(json, JsonSerializer.Serialize(new Spec { OciVersion = "1.0.0" }, OciJsonContext.Default.Spec));
    }

    [Fact]
    public void Large_unsigned_and_negative_values_survive()
    {
        var json = """
            {"ociVersion":"1.0.0",
             "process":{"cwd":"/","args":["a"],"rlimits":[{"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":18446744073709551615}]},
             "linux":{"resources":{"memory":{"limit":-1,"swap":9223372036854775807},"cpu":{"quota":-1}}}}
            """;
        var spec = OciReader.ReadSpec(Encoding.UTF8.GetBytes(json), "config.json");
        Assert.Equal(ulong.MaxValue, spec.Process!.Rlimits![0].Hard);
        Assert.Equal(-1, spec.Linux!.Resources!.Memory!.Limit);
        Assert.Equal(long.MaxValue, spec.Linux.Resources.Memory.Swap);
        Assert.Equal(-1, spec.Linux.Resources.Cpu!.Quota);
        var again = JsonNode.Parse(OciWriter.ToUtf8(spec))!;
        Assert.Equal(ulong.MaxValue, again["process"]!["rlimits"]![0]!["hard"]!.GetValue<ulong>());
    }

    // ---- runc's default config ----------------------------------------------------------------

    [RuncFact]
    public void Runc_default_config_reads_validates_and_survives_a_rewrite()
    {
        var dir = Directory.CreateTempSubdirectory("hcs-runc-spec-");
        try
        {
            var psi = new ProcessStartInfo(RuncFactAttribute.Runc, ["spec", "--bundle", dir.FullName])
            {
                RedirectStandardError = true, RedirectStandardOutput = true,
            };
            using (var p = System.Diagnostics.Process.Start(psi)!)
            {
                var err = p.StandardError.ReadToEnd();
                p.WaitForExit();
                Assert.True(p.ExitCode == 0, "runc spec failed: " + err);
            }
            var bytes = File.ReadAllBytes(Path.Combine(dir.FullName, "config.json"));
            var spec = OciReader.ReadSpec(bytes, "config.json");

            Assert.StartsWith("1.", spec.OciVersion);
            Assert.Equal(["sh"], spec.Process!.Args!);
            Assert.Equal("rootfs", spec.Root!.Path);
            Assert.Contains(spec.Linux!.Namespaces!, n => n.Type == "mount");
            Assert.Contains("/proc/kcore", spec.Linux.MaskedPaths!);
            Assert.Contains(spec.Process.Rlimits!, r => r.Type == "RLIMIT_NOFILE");
            Assert.Contains(spec.Mounts!, m => m.Destination == "/dev/pts" && m.Type == "devpts");

            var errors = new DocumentErrors();
            SpecValidator.Validate(spec, errors);
            Assert.Empty(errors.All);

            // nothing runc writes is lost by reading it and writing it again
            AssertSameTree(JsonNode.Parse(bytes), JsonNode.Parse(OciWriter.ToUtf8(spec)));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static byte[] Write(Action<Utf8JsonWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) write(w);
        return ms.ToArray();
    }

    /// <summary>JsonNode.DeepEquals, with the differing paths in the failure message.</summary>
    internal static void AssertSameTree(JsonNode? expected, JsonNode? actual)
    {
        if (JsonNode.DeepEquals(expected, actual)) return;
        var diffs = new List<string>();
        Diff(expected, actual, "$", diffs);
        Assert.Fail("JSON trees differ:\n  " + string.Join("\n  ", diffs.Take(30)));
    }

    private static void Diff(JsonNode? e, JsonNode? a, string path, List<string> diffs)
    {
        if (JsonNode.DeepEquals(e, a)) return;
        if (e is JsonObject eo && a is JsonObject ao)
        {
            foreach (var (k, v) in eo)
                if (!ao.ContainsKey(k)) diffs.Add($"{path}.{k}: missing (expected {v?.ToJsonString()})");
                else Diff(v, ao[k], $"{path}.{k}", diffs);
            foreach (var (k, v) in ao)
                if (!eo.ContainsKey(k)) diffs.Add($"{path}.{k}: unexpected {v?.ToJsonString()}");
            return;
        }
        if (e is JsonArray ea && a is JsonArray aa && ea.Count == aa.Count)
        {
            for (int i = 0; i < ea.Count; i++) Diff(ea[i], aa[i], $"{path}[{i}]", diffs);
            return;
        }
        diffs.Add($"{path}: expected {e?.ToJsonString() ?? "null"}, got {a?.ToJsonString() ?? "null"}");
    }
}

/// <summary>A fact that runs runc; skipped, with the reason, where runc is not installed.</summary>
public sealed class RuncFactAttribute : FactAttribute
{
    public static string Runc => File.Exists("/usr/sbin/runc") ? "/usr/sbin/runc" : "/usr/bin/runc";

    public RuncFactAttribute()
    {
        if (!File.Exists("/usr/sbin/runc") && !File.Exists("/usr/bin/runc"))
            Skip = "runc is not installed (/usr/sbin/runc)";
    }
}

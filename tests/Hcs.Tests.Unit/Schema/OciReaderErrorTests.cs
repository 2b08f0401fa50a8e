using System.Text;
using Hcs.Linux.Spec;
using Hcs.Schema;
using Hcs.Schema.Oci;

namespace Hcs.Tests.Unit.Schema;

/// <summary>Type errors are reported at their exact JSON path, all of them at once; unknown
/// properties are ignored (the runtime spec requires it); malformed JSON says where.</summary>
public sealed class OciReaderErrorTests
{
    private static DocumentException Fails(string json, string source = "config.json") =>
        Assert.Throws<DocumentException>(() => OciReader.ReadSpec(Encoding.UTF8.GetBytes(json), source));

    private static DocumentError Single(string json) => Assert.Single(Fails(json).Errors);

    private static Spec Read(string json) => OciReader.ReadSpec(Encoding.UTF8.GetBytes(json), "config.json");

    [Theory]
    [InlineData("""{"process":{"args":"sh"}}""", "$.process.args", "expected an array, not a string")]
    [InlineData("""{"process":{"args":["sh",5]}}""", "$.process.args[1]", "expected a string, not the number 5")]
    [InlineData("""{"process":{"args":["sh",{}]}}""", "$.process.args[1]", "expected a string, not an object")]
    [InlineData("""{"process":{"env":["A=1",true]}}""", "$.process.env[1]", "expected a string, not a boolean")]
    [InlineData("""{"process":"sh"}""", "$.process", "expected an object, not a string")]
    [InlineData("""{"process":[]}""", "$.process", "expected an object, not an array")]
    [InlineData("""{"process":{"terminal":"yes"}}""", "$.process.terminal", "expected true or false, not a string")]
    [InlineData("""{"process":{"terminal":1}}""", "$.process.terminal", "expected true or false, not the number 1")]
    [InlineData("""{"process":{"user":{"uid":-1}}}""", "$.process.user.uid", "-1 is out of range: expected a non-negative 32-bit integer")]
    [InlineData("""{"process":{"user":{"gid":4294967296}}}""", "$.process.user.gid", "4294967296 is out of range: expected a non-negative 32-bit integer")]
    [InlineData("""{"process":{"user":{"additionalGids":[1,"2"]}}}""", "$.process.user.additionalGids[1]", "expected a non-negative 32-bit integer, not a string")]
    [InlineData("""{"process":{"oomScoreAdj":2147483648}}""", "$.process.oomScoreAdj", "2147483648 is out of range: expected a 32-bit integer")]
    [InlineData("""{"process":{"consoleSize":{"height":"x"}}}""", "$.process.consoleSize.height", "expected a non-negative 32-bit integer, not a string")]
    [InlineData("""{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","hard":-1}]}}""", "$.process.rlimits[0].hard", "-1 is out of range: expected a non-negative integer")]
    [InlineData("""{"process":{"capabilities":{"ambient":"CAP_KILL"}}}""", "$.process.capabilities.ambient", "expected an array, not a string")]
    [InlineData("""{"process":{"ioPriority":{"priority":"high"}}}""", "$.process.ioPriority.priority", "expected a 32-bit integer, not a string")]
    [InlineData("""{"process":{"scheduler":{"runtime":-5}}}""", "$.process.scheduler.runtime", "-5 is out of range: expected a non-negative integer")]
    [InlineData("""{"process":{"execCPUAffinity":{"initial":0}}}""", "$.process.execCPUAffinity.initial", "expected a string, not the number 0")]
    [InlineData("""{"root":{"readonly":"true"}}""", "$.root.readonly", "expected true or false, not a string")]
    [InlineData("""{"root":{"path":["a"]}}""", "$.root.path", "expected a string, not an array")]
    [InlineData("""{"ociVersion":1.2}""", "$.ociVersion", "expected a string, not the number 1.2")]
    [InlineData("""{"linux":{"resources":{"memory":{"limit":"1g"}}}}""", "$.linux.resources.memory.limit", "expected an integer, not a string")]
    [InlineData("""{"linux":{"resources":{"memory":{"limit":1.5}}}}""", "$.linux.resources.memory.limit", "1.5 is out of range: expected an integer")]
    [InlineData("""{"linux":{"resources":{"memory":{"limit":9223372036854775808}}}}""", "$.linux.resources.memory.limit", "9223372036854775808 is out of range: expected an integer")]
    [InlineData("""{"linux":{"resources":{"memory":{"disableOOMKiller":"no"}}}}""", "$.linux.resources.memory.disableOOMKiller", "expected true or false, not a string")]
    [InlineData("""{"linux":{"resources":{"blockIO":{"weight":65536}}}}""", "$.linux.resources.blockIO.weight", "65536 is out of range: expected an integer from 0 to 65535")]
    [InlineData("""{"linux":{"resources":{"blockIO":{"throttleReadIOPSDevice":[{"rate":-1}]}}}}""", "$.linux.resources.blockIO.throttleReadIOPSDevice[0].rate", "-1 is out of range: expected a non-negative integer")]
    [InlineData("""{"linux":{"resources":{"blockIO":{"weightDevice":[{"major":"8"}]}}}}""", "$.linux.resources.blockIO.weightDevice[0].major", "expected an integer, not a string")]
    [InlineData("""{"linux":{"resources":{"pids":{"limit":"max"}}}}""", "$.linux.resources.pids.limit", "expected an integer, not a string")]
    [InlineData("""{"linux":{"resources":{"hugepageLimits":[{"pageSize":2}]}}}""", "$.linux.resources.hugepageLimits[0].pageSize", "expected a string, not the number 2")]
    [InlineData("""{"linux":{"resources":{"network":{"priorities":[{"priority":-1}]}}}}""", "$.linux.resources.network.priorities[0].priority", "-1 is out of range: expected a non-negative 32-bit integer")]
    [InlineData("""{"linux":{"resources":{"devices":[{"allow":"yes"}]}}}""", "$.linux.resources.devices[0].allow", "expected true or false, not a string")]
    [InlineData("""{"linux":{"resources":{"unified":{"memory.high":100}}}}""", "$.linux.resources.unified[\"memory.high\"]", "expected a string, not the number 100")]
    [InlineData("""{"linux":{"resources":{"rdma":{"mlx5_1":{"hcaHandles":-3}}}}}""", "$.linux.resources.rdma.mlx5_1.hcaHandles", "-3 is out of range: expected a non-negative 32-bit integer")]
    [InlineData("""{"linux":{"sysctl":{"net.ipv4.ip_forward":1}}}""", "$.linux.sysctl[\"net.ipv4.ip_forward\"]", "expected a string, not the number 1")]
    [InlineData("""{"linux":{"sysctl":["net.ipv4.ip_forward=1"]}}""", "$.linux.sysctl", "expected an object, not an array")]
    [InlineData("""{"linux":{"namespaces":[{"type":"pid"},{"type":7}]}}""", "$.linux.namespaces[1].type", "expected a string, not the number 7")]
    [InlineData("""{"linux":{"uidMappings":[{"containerID":0,"hostID":"1000","size":1}]}}""", "$.linux.uidMappings[0].hostID", "expected a non-negative 32-bit integer, not a string")]
    [InlineData("""{"linux":{"devices":[{"path":"/dev/x","major":1.5}]}}""", "$.linux.devices[0].major", "1.5 is out of range: expected an integer")]
    [InlineData("""{"linux":{"timeOffsets":{"monotonic":{"secs":"1"}}}}""", "$.linux.timeOffsets.monotonic.secs", "expected an integer, not a string")]
    [InlineData("""{"linux":{"timeOffsets":{"boottime":{"nanosecs":-1}}}}""", "$.linux.timeOffsets.boottime.nanosecs", "-1 is out of range: expected a non-negative 32-bit integer")]
    [InlineData("""{"linux":{"personality":{"flags":"x"}}}""", "$.linux.personality.flags", "expected an array, not a string")]
    [InlineData("""{"linux":{"intelRdt":{"closID":1}}}""", "$.linux.intelRdt.closID", "expected a string, not the number 1")]
    [InlineData("""{"linux":{"seccomp":{"syscalls":[{"names":["read"],"args":[{"index":-1}]}]}}}""", "$.linux.seccomp.syscalls[0].args[0].index", "-1 is out of range: expected a non-negative 32-bit integer")]
    [InlineData("""{"linux":{"seccomp":{"defaultErrnoRet":"EPERM"}}}""", "$.linux.seccomp.defaultErrnoRet", "expected a non-negative 32-bit integer, not a string")]
    [InlineData("""{"mounts":[{},{},{"destination":"/x","options":[true]}]}""", "$.mounts[2].options[0]", "expected a string, not a boolean")]
    [InlineData("""{"mounts":[{"destination":"/x","uidMappings":[{"size":-1}]}]}""", "$.mounts[0].uidMappings[0].size", "-1 is out of range: expected a non-negative 32-bit integer")]
    [InlineData("""{"mounts":{"destination":"/x"}}""", "$.mounts", "expected an array, not an object")]
    [InlineData("""{"hooks":{"prestart":[{"path":"/x","timeout":"5"}]}}""", "$.hooks.prestart[0].timeout", "expected a 32-bit integer, not a string")]
    [InlineData("""{"hooks":{"poststop":[{"path":"/x","args":"a"}]}}""", "$.hooks.poststop[0].args", "expected an array, not a string")]
    [InlineData("""{"annotations":{"com.example/key":5}}""", "$.annotations[\"com.example/key\"]", "expected a string, not the number 5")]
    [InlineData("""{"annotations":{"":5}}""", "$.annotations[\"\"]", "expected a string, not the number 5")]
    [InlineData("""{"annotations":{"plain_key9":false}}""", "$.annotations.plain_key9", "expected a string, not a boolean")]
    public void Type_errors_name_their_exact_path(string json, string path, string message)
    {
        var e = Single(json);
        Assert.Equal(path, e.Path);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Exception_message_names_the_document_the_path_and_the_problem()
    {
        var e = Fails("""{"process":{"args":"sh"}}""", "/b/config.json");
        Assert.Equal("/b/config.json", e.DocumentName);
        Assert.Equal("/b/config.json: $.process.args: expected an array, not a string", e.Message);
    }

    [Fact]
    public void Several_errors_are_all_reported_in_document_order()
    {
        var e = Fails("""
            {"ociVersion": 1,
             "process": {"args": ["sh", 2], "cwd": false, "user": {"uid": -1}},
             "mounts": [{"destination": "/a"}, {"destination": 3, "options": ["ro", null, 4]}],
             "linux": {"sysctl": {"net.core.somaxconn": 1024}, "resources": {"memory": {"limit": "1g", "swap": "2g"}}}}
            """);
        Assert.Equal(
        [
            "$.ociVersion",
            "$.process.args[1]",
            "$.process.cwd",
            "$.process.user.uid",
            "$.mounts[1].destination",
            "$.mounts[1].options[1]",
            "$.mounts[1].options[2]",
            "$.linux.sysctl[\"net.core.somaxconn\"]",
            "$.linux.resources.memory.limit",
            "$.linux.resources.memory.swap",
        ], e.Errors.Select(x => x.Path));
        Assert.StartsWith("config.json: 10 errors:\n  $.ociVersion: expected a string, not the number 1\n  ", e.Message);
    }

    [Fact]
    public void Malformed_json_reports_line_and_byte()
    {
        // line 3 starts with two spaces, then the property that lacks the comma before it
        var e = Single("{\n  \"ociVersion\": \"1.0.0\"\n  \"root\": {}\n}");
        Assert.Equal("$", e.Path);
        Assert.Equal("malformed JSON (line 3, byte 3)", e.Message);
    }

    [Fact]
    public void Truncated_json_is_malformed_at_its_end()
    {
        var e = Single("{\"ociVersion\": \"1.0.0\",\n \"process\": {");
        Assert.StartsWith("malformed JSON (line 2", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{\"a\": }")]
    [InlineData("{'a': 1}")]
    public void Not_json_is_malformed(string text) =>
        Assert.StartsWith("malformed JSON", Single(text).Message);

    [Theory]
    [InlineData("[]")]
    [InlineData("\"config\"")]
    [InlineData("null")]
    [InlineData("42")]
    public void A_document_that_is_not_an_object_is_rejected(string json)
    {
        var e = Single(json);
        Assert.Equal("$", e.Path);
        Assert.Equal("expected a JSON object", e.Message);
    }

    [Fact]
    public void Comments_and_trailing_commas_are_accepted()
    {
        var spec = Read("""
            {
              // runc and crun accept neither, but editors produce them
              "ociVersion": "1.0.0", /* block */
              "process": {"args": ["sh", "-c",], "cwd": "/",},
            }
            """);
        Assert.Equal(["sh", "-c"], spec.Process!.Args!);
    }

    [Fact]
    public void Null_values_read_as_absent()
    {
        var spec = Read("""
            {"ociVersion": null, "process": null, "root": {"path": null, "readonly": null},
             "mounts": null, "hooks": null, "annotations": null,
             "linux": {"resources": {"memory": {"limit": null, "disableOOMKiller": null}}, "namespaces": null}}
            """);
        Assert.Null(spec.OciVersion);
        Assert.Null(spec.Process);
        Assert.Null(spec.Root!.Path);
        Assert.False(spec.Root.Readonly);
        Assert.Null(spec.Mounts);
        Assert.Null(spec.Linux!.Namespaces);
        Assert.Null(spec.Linux.Resources!.Memory!.Limit);
        Assert.Null(spec.Linux.Resources.Memory.DisableOomKiller);
    }

    [Fact]
    public void Unknown_properties_are_ignored_at_every_level_whatever_their_type()
    {
        var spec = Read("""
            {"ociVersion": "1.0.0", "vendorThing": {"deep": [1, "two", null]}, "windows": {"layerFolders": 5},
             "process": {"args": ["sh"], "cwd": "/", "x-custom": 1, "user": {"uid": 5, "sid": "S-1"},
                         "capabilities": {"bounding": ["CAP_KILL"], "future": false},
                         "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 2, "soft": 1, "extra": []}]},
             "root": {"path": "rootfs", "rw": true},
             "mounts": [{"destination": "/tmp", "type": "tmpfs", "propagation": 3}],
             "linux": {"namespaces": [{"type": "pid", "flags": {}}], "newField": "x",
                       "resources": {"memory": {"limit": 5, "tomorrow": "y"}, "cpu": {"shares": 2, "weight": "z"},
                                     "pids": {"limit": 3, "other": 1}, "misc": {"a": 1}},
                       "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": 1}]}}}
            """);
        Assert.Equal(5u, spec.Process!.User!.Uid);
        Assert.Equal(1ul, spec.Process.Rlimits![0].Soft);
        Assert.Equal("tmpfs", spec.Mounts![0].Type);
        Assert.Equal(5, spec.Linux!.Resources!.Memory!.Limit);
        Assert.Equal(3, spec.Linux.Resources.Pids!.Limit);
        Assert.Equal("pid", spec.Linux.Namespaces![0].Type);
    }

    // The runtime spec: "Runtimes MUST ignore unknown properties" — hooks is no exception.
    // BUG: OciReader.Hooks maps every property of "hooks" as a hook list before looking at
    // its name, so an unknown one that is not a list of objects is an error.
    [Theory]
    [InlineData("""{"hooks": {"x-vendor": "enabled"}}""")]
    [InlineData("""{"hooks": {"prestart": [], "futureHookConfig": {"parallel": true}}}""")]
    [InlineData("""{"hooks": {"legacy": [1, 2]}}""")]
    public void Unknown_properties_of_hooks_are_ignored(string json)
    {
        var spec = Read(json);
        Assert.NotNull(spec.Hooks);
    }

    [Fact]
    public void Process_and_resources_documents_report_paths_from_their_own_root()
    {
        var p = Assert.Throws<DocumentException>(() => OciReader.ReadProcess("""{"args":[1]}"""u8.ToArray(), "process.json"));
        Assert.Equal("$.args[0]", Assert.Single(p.Errors).Path);
        var r = Assert.Throws<DocumentException>(() => OciReader.ReadResources("""{"cpu":{"quota":"x"}}"""u8.ToArray(), "-"));
        Assert.Equal("$.cpu.quota", Assert.Single(r.Errors).Path);
        Assert.Equal("-: $.cpu.quota: expected an integer, not a string", r.Message);
    }

    [Fact]
    public void OciJson_entry_points_use_the_hand_reader()
    {
        var e = Assert.Throws<DocumentException>(() => OciJson.ReadSpec("""{"process":{"args":"x"}}"""u8.ToArray(), "c.json"));
        Assert.Equal("$.process.args", Assert.Single(e.Errors).Path);
        Assert.Equal(["sh"], OciJson.ReadProcess("""{"args":["sh"]}"""u8.ToArray(), "p").Args!);
        Assert.Equal(7, OciJson.ReadResources("""{"pids":{"limit":7}}"""u8.ToArray(), "r").Pids!.Limit);
    }

    [Fact]
    public void OciJson_Read_with_the_serializer_reports_path_and_position()
    {
        var e = Assert.Throws<DocumentException>(() =>
            OciJson.Read("""{"ociVersion":"1.0","id":"x","pid":"12"}"""u8, OciJsonContext.Default.State, "state.json"));
        var err = Assert.Single(e.Errors);
        Assert.Equal("$.pid", err.Path);
        Assert.DoesNotContain("Path:", err.Message);
        Assert.Contains("(line 1, byte", err.Message);

        var nul = Assert.Throws<DocumentException>(() => OciJson.Read("null"u8, OciJsonContext.Default.State, "state.json"));
        Assert.Equal("$: the document is null", Assert.Single(nul.Errors).ToString());
    }

    [Theory]
    [InlineData("$", "abc", "$.abc")]
    [InlineData("$.a", "b_1", "$.a.b_1")]
    [InlineData("$.linux.sysctl", "net.ipv4.ip_forward", "$.linux.sysctl[\"net.ipv4.ip_forward\"]")]
    [InlineData("$.annotations", "com.example/x", "$.annotations[\"com.example/x\"]")]
    [InlineData("$.m", "with space", "$.m[\"with space\"]")]
    [InlineData("$.m", "dash-ed", "$.m[\"dash-ed\"]")]
    [InlineData("$.m", "", "$.m[\"\"]")]
    public void Child_paths_use_brackets_for_names_that_are_not_identifiers(string parent, string name, string expected) =>
        Assert.Equal(expected, JsonMapper.Child(parent, name));

    // A null inside a list of objects is "no object": the reader keeps it as a null element.
    // BUG: nothing reports it, and SpecValidator then dereferences it (NullReferenceException)
    // instead of naming "$.mounts[0]". runc reads null as an empty object and fails validation
    // with a message; either way the user must get a path, not a crash.
    [Theory]
    [InlineData("mounts", """{"ociVersion":"1.0.0","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"mount"}]},"mounts":[null]}""", "$.mounts[0]")]
    [InlineData("namespaces", """{"ociVersion":"1.0.0","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"mount"},null]}}""", "$.linux.namespaces[1]")]
    [InlineData("rlimits", """{"ociVersion":"1.0.0","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/","rlimits":[null]},"linux":{"namespaces":[{"type":"mount"}]}}""", "$.process.rlimits[0]")]
    [InlineData("hooks", """{"ociVersion":"1.0.0","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"mount"}]},"hooks":{"prestart":[null]}}""", "$.hooks.prestart[0]")]
    [InlineData("devices", """{"ociVersion":"1.0.0","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/"},"linux":{"namespaces":[{"type":"mount"}],"devices":[null]}}""", "$.linux.devices[0]")]
    public void A_null_list_element_is_reported_with_its_path_not_a_crash(string what, string json, string path)
    {
        _ = what;
        var e = Assert.Throws<DocumentException>(() =>
        {
            var spec = Read(json);
            SpecValidator.ThrowIfInvalid(spec);
        });
        Assert.Contains(e.Errors, x => x.Path.StartsWith(path, StringComparison.Ordinal));
    }
}

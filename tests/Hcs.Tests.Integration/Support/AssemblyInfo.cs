// Kernel and end-to-end tests share global state (mount table, cgroup trees, the 2 CPUs the
// timing-sensitive ones need): one test at a time keeps leak checks exact and failures clear.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

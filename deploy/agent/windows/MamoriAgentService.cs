// mamori-agent-service.exe: the Windows service host of the mamori agent.
//
// node.exe does not speak the Service Control Manager's protocol (a plain program registered as
// a service is killed after 30 s with error 1053), so install.ps1 compiles this small host with
// the C# compiler of the .NET Framework every supported Windows ships, and registers it as the
// service. It starts `node\node.exe app\main.js run --state-dir DIR` from the bundle it sits in,
// appends the agent's output to a log file, and ends the child when the service is stopped.
// When the agent exits on its own, the host exits with an error without reporting "stopped",
// which the SCM treats as a failure: the recovery actions (`sc.exe failure`) restart it.
using System;
using System.Diagnostics;
using System.IO;
using System.ServiceProcess;
using System.Text;

public sealed class MamoriAgentService : ServiceBase
{
    // The agent's log is rotated to agent.log.1 when it passes this size.
    private const long MaxLogBytes = 10L * 1024 * 1024;

    private readonly string nodePath;
    private readonly string mainPath;
    private readonly string stateDir;
    private readonly string logPath;
    private readonly object logLock = new object();
    private Process child;
    private volatile bool stopping;

    public MamoriAgentService(string bundleDir, string stateDir, string logDir)
    {
        ServiceName = "mamori-agent";
        CanStop = true;
        CanShutdown = true;
        AutoLog = true;
        nodePath = Path.Combine(bundleDir, "node", "node.exe");
        mainPath = Path.Combine(bundleDir, "app", "main.js");
        this.stateDir = stateDir;
        Directory.CreateDirectory(logDir);
        logPath = Path.Combine(logDir, "agent.log");
    }

    private static string Quote(string argument)
    {
        return "\"" + argument.Replace("\"", "\\\"") + "\"";
    }

    private void Log(string line)
    {
        if (line == null) return;
        lock (logLock)
        {
            try
            {
                FileInfo info = new FileInfo(logPath);
                if (info.Exists && info.Length > MaxLogBytes)
                {
                    string previous = logPath + ".1";
                    if (File.Exists(previous)) File.Delete(previous);
                    File.Move(logPath, previous);
                }
                File.AppendAllText(logPath, line + Environment.NewLine, Encoding.UTF8);
            }
            catch (IOException)
            {
                // A log that cannot be written must not stop the agent.
            }
        }
    }

    protected override void OnStart(string[] args)
    {
        ProcessStartInfo start = new ProcessStartInfo(nodePath, Quote(mainPath) + " run --state-dir " + Quote(stateDir));
        start.UseShellExecute = false;
        start.CreateNoWindow = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.WorkingDirectory = Path.GetDirectoryName(mainPath);
        start.EnvironmentVariables["MAMORI_AGENT_STATE_DIR"] = stateDir;
        child = new Process();
        child.StartInfo = start;
        child.EnableRaisingEvents = true;
        child.OutputDataReceived += (sender, e) => Log(e.Data);
        child.ErrorDataReceived += (sender, e) => Log(e.Data);
        child.Exited += OnChildExited;
        Log(DateTime.UtcNow.ToString("o") + " mamori-agent-service: starting " + nodePath + " " + start.Arguments);
        child.Start();
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
    }

    private void OnChildExited(object sender, EventArgs e)
    {
        if (stopping) return;
        int code = child.ExitCode;
        Log(DateTime.UtcNow.ToString("o") + " mamori-agent-service: the agent exited with code " + code + "; failing the service so that it is restarted");
        // Ending the process without reporting SERVICE_STOPPED is a service failure to the SCM.
        Environment.Exit(code == 0 ? 1 : code);
    }

    private void StopChild()
    {
        stopping = true;
        if (child == null || child.HasExited) return;
        Log(DateTime.UtcNow.ToString("o") + " mamori-agent-service: stopping the agent (pid " + child.Id + ")");
        // Windows has no SIGTERM for a console-less child: the agent's spool is crash-safe
        // (written to a temporary file and renamed), so ending the process loses no event.
        try { child.Kill(); } catch (InvalidOperationException) { }
        child.WaitForExit(10000);
    }

    protected override void OnStop() { StopChild(); }

    protected override void OnShutdown() { StopChild(); }

    // mamori-agent-service.exe --state-dir DIR [--log-dir DIR]
    public static int Main(string[] args)
    {
        string bundleDir = Path.GetFullPath(Path.Combine(AppDomain.CurrentDomain.BaseDirectory, ".."));
        string stateDir = null;
        string logDir = null;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--state-dir") stateDir = args[i + 1];
            else if (args[i] == "--log-dir") logDir = args[i + 1];
            else
            {
                Console.Error.WriteLine("mamori-agent-service: unknown option " + args[i]);
                return 2;
            }
        }
        if (stateDir == null)
        {
            Console.Error.WriteLine("usage: mamori-agent-service.exe --state-dir DIR [--log-dir DIR]");
            return 2;
        }
        if (logDir == null) logDir = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(stateDir)), "logs");
        ServiceBase.Run(new MamoriAgentService(bundleDir, stateDir, logDir));
        return 0;
    }
}

# Installs the release binary for this machine. The release workflow fills in the
# version, repository and sha256 sums (packaging/homebrew/update-formula.ts) and
# attaches the result to the release; copy it into your tap's Formula/ folder.
class AgentMesh < Formula
  desc "Hand work between AI agents and people: an MCP server and its controller"
  homepage "https://github.com/OWNER/agent-mesh"
  version "0.1.0"
  license "Apache-2.0"

  on_macos do
    on_arm do
      url "https://github.com/OWNER/agent-mesh/releases/download/v#{version}/agent-mesh-darwin-arm64"
      sha256 "0000000000000000000000000000000000000000000000000000000000000000"
    end
    on_intel do
      url "https://github.com/OWNER/agent-mesh/releases/download/v#{version}/agent-mesh-darwin-x64"
      sha256 "0000000000000000000000000000000000000000000000000000000000000000"
    end
  end

  on_linux do
    on_arm do
      url "https://github.com/OWNER/agent-mesh/releases/download/v#{version}/agent-mesh-linux-arm64"
      sha256 "0000000000000000000000000000000000000000000000000000000000000000"
    end
    on_intel do
      url "https://github.com/OWNER/agent-mesh/releases/download/v#{version}/agent-mesh-linux-x64"
      sha256 "0000000000000000000000000000000000000000000000000000000000000000"
    end
  end

  def install
    # The download is the bare executable, named as in the release.
    bin.install Dir["agent-mesh-*"].first => "agent-mesh"
  end

  test do
    assert_match "agent-mesh #{version} (", shell_output("#{bin}/agent-mesh --version")
  end
end
